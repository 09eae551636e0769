"""watch()'s activation statistics on the shapes real code feeds: one example at a time ([F]),
sequences ([N, T, C]) and images with their channels last; dead ReLUs are found in each."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tb_lossdiag import DiagWriter


class ChannelsLastHead(nn.Module):
    """[N, C, H, W] -> Linear over channels, as ConvNeXt blocks do after permute(0, 2, 3, 1)."""

    def __init__(self):
        super().__init__()
        self.fc, self.act, self.out = nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1)

    def forward(self, x):
        return self.out(self.act(self.fc(x.permute(0, 2, 3, 1))))


def _model(shape):
    torch.manual_seed(0)
    if shape == "nchw_channels_last":
        model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 1, 1))
        return model.to(memory_format=torch.channels_last), model[0]
    if shape == "nhwc":
        model = ChannelsLastHead()
        return model, model.fc
    width = 4 if shape == "unbatched" else 6
    model = nn.Sequential(nn.Linear(width, 16), nn.ReLU(), nn.Linear(16, 1))
    return model, model[0]


def _input(shape, generator):
    sizes = {"unbatched": (4,), "sequence": (4, 12, 6), "nhwc": (4, 3, 6, 6), "nchw_channels_last": (4, 3, 6, 6)}
    x = torch.randn(sizes[shape], generator=generator)
    return x.to(memory_format=torch.channels_last) if shape == "nchw_channels_last" else x


def _train(logdir, shape, dies_at, steps):
    """SGD over `steps` batches; from step `dies_at` on, 12 of the 16 ReLU units never fire."""
    model, first = _model(shape)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(1)
    writer = DiagWriter(logdir)
    seen = []
    observe = writer.observe_step
    writer.observe_step = lambda stats: (seen.append(stats), observe(stats))
    writer.watch(model, optimizer)
    for step in range(steps):
        if step == dies_at:
            with torch.no_grad():
                first.bias[:12] = -1e3
        x = _input(shape, generator)
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), torch.zeros(()).expand_as(model(x)))
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
    relu = [a for s in seen for a in s.activations if a.kind == "ReLU"]
    dead = [e for e in writer.events if e.kind == "dead_activation"]
    return relu, dead


# One example at a time needs the window of sampled steps (8 values per unit); batches do not.
STEPS = {"unbatched": 200, "sequence": 30, "nhwc": 30, "nchw_channels_last": 30}


@pytest.mark.parametrize("shape", list(STEPS))
def test_dead_relus_are_found_whatever_the_shape(logdir, shape):
    """The units are the 16 features (or channels): 12 dead of 16 is dead_activation's warning."""
    relu, dead = _train(logdir, shape, dies_at=4, steps=STEPS[shape])
    assert relu and all(a.units == 16 for a in relu)
    assert len(dead) == 1 and dead[0].evidence["dead_units"] >= 12 and dead[0].evidence["units"] == 16


@pytest.mark.parametrize("shape", list(STEPS))
def test_healthy_relus_are_measured_and_not_called_dead(logdir, shape):
    relu, dead = _train(logdir, shape, dies_at=None, steps=STEPS[shape])
    assert relu and all(a.units == 16 for a in relu)
    assert dead == []
