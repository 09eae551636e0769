"""frozen_parameters: a layer frozen by mistake, or left out of the optimizer, or lr 0 all along."""

import torch
import torch.nn.functional as F

from scenarios import batches, mlp, only, problems, train


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
