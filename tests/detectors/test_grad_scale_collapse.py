"""grad_scale_collapse: a real torch.amp.GradScaler under CPU float16 autocast, skipping every step or only early ones."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scenarios import batches, mlp, only, problems
from tb_lossdiag import DiagWriter


def train_amp(logdir, model, data, loss_fn, init_scale=2.0 ** 16, scaler=True):
    """The torch.amp recipe: autocast forward, scaler.scale(loss).backward(), scaler.step, scaler.update."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    grad_scaler = torch.amp.GradScaler("cpu", init_scale=init_scale)
    writer = DiagWriter(logdir)
    handle = writer.watch(model, optimizer, scaler=grad_scaler if scaler else None)
    for step, (x, y) in enumerate(data):
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.float16):
            loss = loss_fn(model(x), y)
        grad_scaler.scale(loss).backward()
        grad_scaler.step(optimizer)
        grad_scaler.update()
        writer.add_scalar("loss/train", loss, step)
    steps = handle.step
    writer.close()
    return writer.events, steps, grad_scaler


def pairwise_distance_loss(embeddings, labels):
    """Mean distance between same-label embeddings, sqrt written by hand: sqrt'(0) = inf on the diagonal."""
    distances = ((embeddings[:, None] - embeddings[None]) ** 2).sum(-1).sqrt()
    same = (labels[:, None] == labels[None]).float()
    return (distances * same).sum() / same.sum()


def test_scale_collapses_when_every_step_is_skipped(logdir):
    """NaN gradients at every scale: the scaler skips all 40 steps, and the warning names it by step 20."""
    model = mlp(8, 16, 4)
    events, steps, scaler = train_amp(logdir, model, batches(40, (16, 8), classes=3), pairwise_distance_loss)
    event = only(events, "grad_scale_collapse")
    assert event.severity == "warning" and event.step <= 20
    assert event.evidence["scale"] < 1.0 and event.evidence["peak_scale"] == 2.0 ** 16
    assert event.evidence["skipped_steps"] >= 17 and "skipped" in event.message and "float32" in event.hint
    assert steps == 40  # skipped iterations still count as steps: events line up with the loop
    assert scaler.get_scale() < 1e-6


def test_early_skips_while_the_scale_settles_are_healthy(logdir):
    """init_scale 2**40 overflows float16 for ~25 steps, then trains: nothing is flagged."""
    model = mlp(8, 32, 3)
    events, steps, scaler = train_amp(logdir, model, batches(120, (32, 8), classes=3), F.cross_entropy,
                                      init_scale=2.0 ** 40)
    assert scaler.get_scale() < 2.0 ** 20  # the scaler did skip steps
    assert problems(events) == []
    assert steps == 120


def test_scale_is_charted_on_sampled_steps(logdir):
    """diag/grad_scale appears in TensorBoard at the sampled steps, with the scale each step used."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train_amp(logdir, mlp(8, 16, 3), batches(30, (16, 8), classes=3), F.cross_entropy, init_scale=2.0 ** 40)
    accumulator = EventAccumulator(logdir)
    accumulator.Reload()
    scales = {s.step: s.value for s in accumulator.Scalars("diag/grad_scale")}
    assert sorted(scales) == [0, 10, 20]
    assert scales[0] == 2.0 ** 40 and scales[20] < scales[10] < scales[0]


def test_without_the_scaler_nothing_is_claimed(logdir):
    """watch() without scaler=: no scale is read, so no collapse is claimed (the loss still tells)."""
    events, steps, _ = train_amp(logdir, mlp(8, 16, 4), batches(40, (16, 8), classes=3),
                                 pairwise_distance_loss, scaler=False)
    assert "grad_scale_collapse" not in {e.kind for e in events}
    assert steps == 0  # the optimizer never stepped: watch() alone cannot count skipped iterations


def test_remove_restores_the_scalers_update(logdir):
    """After writer.close() the GradScaler is untouched: update is the class's method again."""
    scaler = torch.amp.GradScaler("cpu")
    model = nn.Linear(4, 1)
    writer = DiagWriter(logdir)
    writer.watch(model, torch.optim.SGD(model.parameters(), lr=0.1), scaler=scaler)
    assert "update" in vars(scaler)
    writer.close()
    assert "update" not in vars(scaler)


@pytest.mark.parametrize("scaler, optimizer, message", [
    ("not a scaler", True, "torch.amp.GradScaler"),
    (torch.amp.GradScaler("cpu"), False, "needs the optimizer"),
])
def test_bad_scaler_arguments_name_the_fix(logdir, scaler, optimizer, message):
    """A wrong scaler= argument fails at watch() with the call to write instead."""
    model = nn.Linear(4, 1)
    writer = DiagWriter(logdir)
    with pytest.raises((TypeError, ValueError), match=message):
        writer.watch(model, torch.optim.SGD(model.parameters(), lr=0.1) if optimizer else None, scaler=scaler)
    writer.close()
