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
