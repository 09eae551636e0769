"""dead_activation: ReLU units that never fire."""

import subprocess
import sys

import torch
import torch.nn.functional as F

from scenarios import batches, mlp, only, train


def test_relu_behind_large_negative_bias_is_dead(logdir):
    """A bias of -20 before the ReLU: all 16 units dead on sampled steps 0 and 10, reported at 10."""
    model = mlp(8, 16, 16, 4)
    torch.nn.init.constant_(model[0].bias, -20.0)
    event = only(train(logdir, model, batches(12, (32, 8), classes=4), F.cross_entropy), "dead_activation")
    assert event.step == 10 and event.tag == "module 1"
    assert event.evidence["dead_units"] == 16 and event.evidence["units"] == 16
    assert "LeakyReLU" in event.hint


def test_activation_detectors_load_without_torch():
    """`tb-lossdiag scan` runs every detector on logged numbers: loading them must not import torch (~4 s)."""
    code = ("import sys, tb_lossdiag.detectors.dead_activation, tb_lossdiag.detectors.saturated_activation;"
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
