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
    assert event.evidence["saturated_units"] >= 16
    assert "xavier" in event.hint


def test_confident_output_sigmoid_is_not_an_error(logdir):
    """An output nn.Sigmoid trained with BCE on separable data saturates on purpose: no event."""
    model = mlp(8, 16, 1, last_act=nn.Sigmoid())
    data = [(x, (x[:, 0] > 0).float().unsqueeze(1)) for x, _ in batches(25, (32, 8))]
    events = train(logdir, model, data, F.binary_cross_entropy,
                   torch.optim.Adam(model.parameters(), lr=0.05))
    assert problems(events) == []
