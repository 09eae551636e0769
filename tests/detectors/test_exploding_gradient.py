"""exploding_gradient: a learning rate too high for unscaled regression."""

import torch
import torch.nn.functional as F
from torch import nn

from scenarios import batches, mlp, only, train
from tb_lossdiag import DiagWriter


def test_diverging_regression_is_caught_before_the_loss_turns_inf(logdir):
    """SGD lr 0.1 on inputs of std 3: the norm is reported far above its early level, before NaN."""
    model = mlp(8, 32, 1)
    events = train(logdir, model, batches(12, (32, 8), scale=3.0), lambda p, y: F.mse_loss(p.squeeze(1), y),
                   torch.optim.SGD(model.parameters(), lr=0.1))
    event = only(events, "exploding_gradient")
    level = event.evidence.get("baseline", event.evidence.get("typical"))  # grown, or jumped at once
    assert event.evidence["grad_norm"] > 100 * level
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


class _ReluRnn(nn.Module):
    """A ReLU RNN whose recurrent weights amplify (orthogonal, gain 1.5), read at the last step."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.rnn = nn.RNN(2, 16, nonlinearity="relu", batch_first=True)
        self.out = nn.Linear(16, 1)
        nn.init.orthogonal_(self.rnn.weight_hh_l0, gain=1.5)

    def forward(self, x):
        return self.out(self.rnn(x)[0][:, -1])


def _rnn_events(logdir, lr=0.01, long_step=None, nan_step=None, clip=None, steps=30):
    """Train _ReluRnn on 8-step sequences; one 100-step sequence batch at `long_step`, one NaN
    value at `nan_step`; clip the gradient norm to `clip`. Returns the events."""
    model = _ReluRnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    gen = torch.Generator().manual_seed(42)
    for step in range(steps):
        x = torch.randn(16, 100 if step == long_step else 8, 2, generator=gen)
        y = x[:, :3, :1].sum(1)
        if step == nan_step:
            x[3, 2, 0] = float("nan")
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
    return writer.events


def test_jump_one_step_before_nan_is_named_at_its_step(logdir):
    """A 100-step sequence at step 25: the norm jumps ~1e9x, the loss is NaN at step 26. The jump is
    exploding_gradient at step 25, with no patience."""
    events = _rnn_events(logdir, long_step=25)
    event = only(events, "exploding_gradient")
    assert event.step == 25 and event.evidence["grad_norm"] > 1e6 * event.evidence["typical"]
    assert "in one step" in event.message
    assert min(e.step for e in events if e.kind in ("nonfinite_gradient", "nonfinite_loss")) == 26


def test_clipped_long_sequence_is_healthy(logdir):
    """The hint's fix, clip_grad_norm_ at 1.0: the same long sequence raises no exploding_gradient."""
    events = _rnn_events(logdir, long_step=25, clip=1.0)
    assert [e for e in events if e.kind == "exploding_gradient"] == []


def test_last_finite_step_before_nan_gradients_is_named(logdir):
    """lr 0.3: the norm is ~1e5x its level at step 1 (below the one-step jump) and the gradients are
    Inf at step 2: the explosion is named at step 1, its last finite step."""
    events = _rnn_events(logdir, lr=0.3, steps=4)
    event = only(events, "exploding_gradient")
    assert event.step == 1 and "at step 2 the gradients are NaN/Inf" in event.message
    assert 100 * event.evidence["typical"] < event.evidence["grad_norm"] < 1e6 * event.evidence["typical"]


def test_nan_batch_after_calm_steps_is_no_explosion(logdir):
    """A NaN value in the batch of step 12: the gradients turn NaN, but nothing grew before it."""
    events = _rnn_events(logdir, nan_step=12, steps=16)
    assert "nonfinite_input" in {e.kind for e in events}
    assert [e for e in events if e.kind == "exploding_gradient"] == []
