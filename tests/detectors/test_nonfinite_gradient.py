"""nonfinite_gradient: gradients turn NaN/Inf while the data is clean."""

import torch
import torch.nn.functional as F

from scenarios import batches, mlp, only, train


def test_nan_gradients_name_the_parameters(logdir):
    """sqrt(|x|) at 0 has an infinite derivative: the NaN/Inf gradients are named at step 0."""
    def loss_fn(out, y):
        return F.cross_entropy(out, y) + torch.sqrt((out - out).abs()).mean()

    event = only(train(logdir, mlp(8, 16, 4), batches(3, (32, 8), classes=4), loss_fn), "nonfinite_gradient")
    assert event.step == 0 and event.evidence["parameters"] == 4
    assert "'0.weight'" in event.message and "clip_grad_norm_" in event.hint
