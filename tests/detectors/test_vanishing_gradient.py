"""vanishing_gradient: a deep sigmoid MLP."""

import torch.nn.functional as F
from torch import nn

from scenarios import batches, mlp, only, problems, train


def test_deep_sigmoid_mlp_is_caught(logdir):
    """Ten sigmoid layers: the first layer's gradient is ~1e-9 of the last's (sampled steps 0, 10)."""
    model = mlp(8, *[32] * 10, 4, act=nn.Sigmoid)
    event = only(train(logdir, model, batches(12, (32, 8), classes=4), F.cross_entropy), "vanishing_gradient")
    assert event.step == 10 and event.tag == "layer 0"
    assert event.evidence["first_rms"] < 1e-4 * event.evidence["largest_rms"]
    assert "ReLU" in event.hint


def test_deep_relu_mlp_is_healthy(logdir):
    """The same depth with ReLU: no event."""
    model = mlp(8, *[32] * 10, 4)
    assert problems(train(logdir, model, batches(12, (32, 8), classes=4), F.cross_entropy)) == []
