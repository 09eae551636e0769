"""missing_zero_grad: optimizer.zero_grad() is never called."""

import pytest
import torch
import torch.nn.functional as F

from scenarios import batches, mlp, only, problems, train
from tb_lossdiag import DiagWriter


def test_never_zeroing_gradients_is_caught_at_the_second_step(logdir):
    """Without zero_grad the first backward after step 0 adds to old gradients: step 1."""
    events = train(logdir, mlp(8, 16, 4), batches(6, (32, 8), classes=4), F.cross_entropy, zero_grad=False)
    event = only(events, "missing_zero_grad")
    assert event.step == 1 and event.evidence["parameters"] == 4
    assert "zero_grad()" in event.hint


def test_intentional_accumulation_is_healthy(logdir):
    """zero_grad every 4 micro-batches, step after the 4th: no event."""
    data = batches(24, (8, 8), classes=4)
    assert problems(train(logdir, mlp(8, 16, 4), data, F.cross_entropy, accumulate=4)) == []


@pytest.mark.parametrize("clear", ["model_zero_grad", "set_to_none_false", "grad_none"])
def test_every_way_of_clearing_is_healthy(logdir, clear):
    """model.zero_grad(), optimizer.zero_grad(set_to_none=False) and p.grad = None all count."""
    model = mlp(8, 16, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for step, (x, y) in enumerate(batches(4, (16, 8), classes=4)):
        if clear == "model_zero_grad":
            model.zero_grad()
        elif clear == "set_to_none_false":
            optimizer.zero_grad(set_to_none=False)
        else:
            for p in model.parameters():
                p.grad = None
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
    assert problems(writer.events) == []


def test_parameters_outside_the_optimizer_are_not_its_concern(logdir):
    """optimizer.zero_grad() never clears a layer the optimizer lacks: its gradient grows for 150
    steps, yet only frozen_parameters speaks (neither missing_zero_grad nor exploding_gradient)."""
    model = mlp(8, 16, 4)
    optimizer = torch.optim.SGD(model[2].parameters(), lr=0.05)
    events = train(logdir, model, batches(150, (16, 8), classes=4), F.cross_entropy, optimizer)
    assert {e.kind for e in problems(events) if e.category == "model"} == {"frozen_parameters"}
