"""exploding_gradient: a learning rate too high for unscaled regression."""

import torch
import torch.nn.functional as F

from scenarios import batches, mlp, only, train


def test_diverging_regression_is_caught_before_the_loss_turns_inf(logdir):
    """SGD lr 0.1 on inputs of std 3: the norm is reported far above its early level, before NaN."""
    model = mlp(8, 32, 1)
    events = train(logdir, model, batches(12, (32, 8), scale=3.0), lambda p, y: F.mse_loss(p.squeeze(1), y),
                   torch.optim.SGD(model.parameters(), lr=0.1))
    event = only(events, "exploding_gradient")
    assert event.evidence["grad_norm"] > 100 * event.evidence["baseline"]
    first_nonfinite = min(e.step for e in events if e.kind in ("nonfinite_gradient", "nonfinite_loss"))
    assert event.step < first_nonfinite
    assert "clip_grad_norm_" in event.hint


def _deep_mlp(std):
    torch.manual_seed(0)
    model = mlp(8, *[64] * 10, 1)
    for layer in model[::2]:
        torch.nn.init.normal_(layer.weight, std=std)
    return model


def test_explosion_from_the_first_step_is_caught_at_step_0(logdir):
    """N(0, 1) weights in a 10-layer ReLU MLP: the loss is ~1e15 at step 0, NaN at step 1; no early level to compare."""
    model = _deep_mlp(1.0)
    events = train(logdir, model, batches(4, (32, 8)), lambda p, y: F.mse_loss(p.squeeze(1), y),
                   torch.optim.SGD(model.parameters(), lr=1e-3))
    event = only(events, "exploding_gradient")
    assert event.step == 0 and event.evidence["grad_norm"] > 1e9 * event.evidence["weight_norm"]


def test_he_initialized_deep_mlp_is_healthy(logdir):
    """The same MLP with He-like weights (std sqrt(2/64)): no event."""
    model = _deep_mlp((2 / 64) ** 0.5)
    events = train(logdir, model, batches(25, (32, 8)), lambda p, y: F.mse_loss(p.squeeze(1), y),
                   torch.optim.SGD(model.parameters(), lr=1e-3))
    assert [e for e in events if e.kind == "exploding_gradient"] == []
