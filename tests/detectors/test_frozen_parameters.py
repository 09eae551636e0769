"""frozen_parameters: a layer frozen by mistake, or left out of the optimizer, or lr 0 all along."""

import torch
import torch.nn.functional as F

from scenarios import batches, mlp, only, problems, train
from tb_lossdiag import DiagWriter
from tb_lossdiag.detectors import FrozenParameters
from tb_lossdiag.stats import StepStats


def test_first_layer_frozen_by_mistake(logdir):
    """requires_grad=False on the first layer, yet given to the optimizer: named at step 0."""
    model = mlp(8, 16, 4)
    model[0].requires_grad_(False)
    event = only(train(logdir, model, batches(3, (32, 8), classes=4), F.cross_entropy), "frozen_parameters")
    assert event.step == 0 and event.severity == "warning" and event.evidence["parameters"] == 2
    assert "'0.weight'" in event.message and "requires_grad" in event.hint


def test_layer_missing_from_the_optimizer(logdir):
    """The optimizer built from the last layer only: the first layer is named."""
    model = mlp(8, 16, 4)
    optimizer = torch.optim.SGD(model[2].parameters(), lr=0.1)
    event = only(train(logdir, model, batches(3, (32, 8), classes=4), F.cross_entropy, optimizer),
                 "frozen_parameters")
    assert event.step == 0 and "no optimizer param group" in event.message


def test_learning_rate_zero_all_along(logdir):
    """lr=0 for 20 steps: reported at step 19."""
    model = mlp(8, 16, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    event = only(train(logdir, model, batches(22, (8, 8), classes=4), F.cross_entropy, optimizer),
                 "frozen_parameters")
    assert event.step == 20 and event.tag == "diag/lr"  # the first sampled step after 20 steps


def test_warmup_from_zero_and_intentional_freezing_are_healthy(logdir):
    """A linear warmup starting at lr 0, and a frozen layer kept out of the optimizer: no warning."""
    model = mlp(8, 16, 4)
    model[0].requires_grad_(False)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: min(1.0, k / 10))
    events = train(logdir, model, batches(25, (8, 8), classes=4), F.cross_entropy, optimizer, scheduler=warmup)
    assert problems(events) == []
    assert only(events, "frozen_parameters").severity == "info"


def _regression(round_output=False):
    def loss_fn(pred, y):
        pred = pred.squeeze(1)
        return F.mse_loss(torch.round(pred) if round_output else pred, y)

    return loss_fn


def test_all_gradients_zero_is_nothing_learning(logdir):
    """Predictions rounded before the loss: every gradient is exactly 0 from step 0, named at
    step 20 (sampled steps 0, 10, 20), not after a plateau's ~120 values, as an error (no step trains)."""
    events = train(logdir, mlp(8, 16, 1), batches(25, (32, 8)), _regression(round_output=True))
    event = only(events, "frozen_parameters")
    assert event.step == 20 and event.severity == "error" and event.evidence["steps"] == 21
    assert "every gradient has been exactly zero" in event.message and "nothing is learning" in event.message
    assert "round/argmax" in event.hint


def test_no_parameter_changing_is_nothing_learning(logdir):
    """lr 1e-12: float32 weights do not move at all, gradients or not: named at step 20."""
    model = mlp(8, 16, 1)
    events = train(logdir, model, batches(25, (32, 8)), _regression(), torch.optim.SGD(model.parameters(), lr=1e-12))
    event = only(events, "frozen_parameters")
    assert event.step == 20 and "no parameter has changed" in event.message


def test_learning_regression_is_healthy(logdir):
    """The same regression without rounding at lr 0.05: no event."""
    assert problems(train(logdir, mlp(8, 16, 1), batches(25, (32, 8)), _regression())) == []


def test_zero_grad_between_backward_and_step_is_named_in_the_fix(logdir):
    """pytorch#6126's loop: backward(), then zero_grad(), then step(): every parameter is optimized but
    has no gradient at step(), named at step 0 with that ordering as the first thing to check; the
    usual order (test_learning_regression_is_healthy) reports nothing."""
    model = mlp(8, 16, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for step, (x, y) in enumerate(batches(3, (32, 8), classes=4)):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
    event = only(writer.events, "frozen_parameters")
    assert event.step == 0 and "got no gradient at optimizer.step()" in event.message
    assert "zero_grad() is not called between loss.backward() and optimizer.step()" in event.hint


def test_parameters_with_gradients_that_never_change_swap_only():
    """Swap-only (no optimizer known): parameters whose gradient is non-zero but whose values never
    change while others do are a warning naming them and both causes; none such: no event."""
    detector = FrozenParameters()
    stuck = StepStats(step=10, sampled=True, unchanged=("decoder.weight", "decoder.bias"))
    (event,) = detector.on_step(stuck)
    assert event.severity == "warning" and event.evidence["parameters"] == 2
    assert "'decoder.weight'" in event.message and "never change" in event.message
    assert "param_groups" in event.hint and "model.parameters()" in event.hint
    assert FrozenParameters().on_step(StepStats(step=10, sampled=True)) == []
