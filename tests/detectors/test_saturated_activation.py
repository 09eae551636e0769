"""saturated_activation: tanh units stuck at +-1 by a too large initialization."""

import torch
import torch.nn.functional as F
from torch import nn

from scenarios import batches, mlp, only, problems, train


def test_tanh_layer_with_huge_weights_is_saturated(logdir):
    """Weights of std 20 drive the hidden tanh to +-1: reported at step 10 (steps 0 and 10 sampled)."""
    model = mlp(8, 32, 4, act=nn.Tanh)
    torch.nn.init.normal_(model[0].weight, std=20.0)
    event = only(train(logdir, model, batches(12, (32, 8), classes=4), F.cross_entropy), "saturated_activation")
    assert event.step == 10 and event.tag == "module 1"
    assert event.evidence["saturated_fraction"] >= 0.5 and "flat region" in event.message
    assert "xavier" in event.hint


def test_confident_output_sigmoid_is_not_an_error(logdir):
    """An output nn.Sigmoid trained with BCE on separable data saturates on purpose: no event."""
    model = mlp(8, 16, 1, last_act=nn.Sigmoid())
    data = [(x, (x[:, 0] > 0).float().unsqueeze(1)) for x, _ in batches(25, (32, 8))]
    events = train(logdir, model, data, F.binary_cross_entropy,
                   torch.optim.Adam(model.parameters(), lr=0.05))
    assert problems(events) == []


def test_wide_tanh_with_unit_init_is_saturated(logdir):
    """N(0, 1) weights on a 256-wide tanh layer: most of its outputs sit at +-1, though few units do for every sample."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 256), nn.Tanh(), nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, 3))
    for layer in model[::2]:
        nn.init.normal_(layer.weight, std=1.0)
    events = train(logdir, model, batches(12, (32, 16), classes=3), F.cross_entropy)
    assert "module 3" in {e.tag for e in events if e.kind == "saturated_activation"}


def test_xavier_tanh_is_healthy(logdir):
    """The same net with its default init: no event."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 256), nn.Tanh(), nn.Linear(256, 256), nn.Tanh(), nn.Linear(256, 3))
    assert problems(train(logdir, model, batches(25, (32, 16), classes=3), F.cross_entropy)) == []
