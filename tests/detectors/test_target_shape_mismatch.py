"""target_shape_mismatch: MSE between [N, 1] predictions and [N] targets."""

import warnings

import pytest
import torch.nn.functional as F

from scenarios import batches, mlp, only, problems, train


@pytest.mark.parametrize("loss_fn", [
    F.mse_loss,
    lambda pred, y: ((pred - y) ** 2).mean(),
], ids=["F.mse_loss", "manual"])
def test_broadcast_prediction_against_target_is_caught_at_step_0(logdir, loss_fn):
    """pred [32, 1] vs y [32] becomes a [32, 32] comparison: reported at step 0 with both shapes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch's own broadcast warning
        events = train(logdir, mlp(8, 16, 1), batches(4, (32, 8)), loss_fn)
    event = only(events, "target_shape_mismatch")
    assert event.step == 0 and event.severity == "error"
    assert "[32, 1]" in event.message and "[32, 32]" in event.message
    assert event.evidence["broadcast_numel"] == 32 * 32
    assert "squeeze" in event.hint


def test_matching_shapes_are_healthy(logdir):
    """pred.squeeze(1) against y: no event."""
    events = train(logdir, mlp(8, 16, 1), batches(12, (32, 8)), lambda p, y: F.mse_loss(p.squeeze(1), y))
    assert problems(events) == []


def test_l1_loss_broadcast_is_caught(logdir):
    """F.l1_loss(pred [32], y [32, 1]) expands before it subtracts: still the [32, 32] comparison."""
    data = [(x, y.unsqueeze(1)) for x, y in batches(4, (32, 8))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        events = train(logdir, mlp(8, 16, 1), data, lambda p, y: F.l1_loss(p.squeeze(1), y))
    event = only(events, "target_shape_mismatch")
    assert event.step == 0 and "[32]" in event.message and "[32, 32]" in event.message


def test_matching_l1_shapes_are_healthy(logdir):
    """F.l1_loss on [32, 1] against [32, 1]: no event."""
    data = [(x, y.unsqueeze(1)) for x, y in batches(12, (32, 8))]
    assert problems(train(logdir, mlp(8, 16, 1), data, F.l1_loss)) == []
