"""nonfinite_activation: a module whose output turns NaN while its input is finite."""

import torch
import torch.nn.functional as F
from torch import nn

from scenarios import batches, only, train


class _Sqrt(nn.Module):
    def forward(self, x):
        return torch.sqrt(x - 1.0)  # NaN for inputs below 1


def test_first_module_producing_nan_is_named(logdir):
    """Linear -> sqrt(x - 1) -> Linear: the sqrt module is named at step 0, not the Linear after it."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), _Sqrt(), nn.Linear(16, 4))
    event = only(train(logdir, model, batches(3, (32, 8), classes=4), F.cross_entropy), "nonfinite_activation")
    assert event.step == 0 and event.tag == "module 1"
    assert "_Sqrt" in event.message and "sqrt" in event.hint


class _MaskedAttention(nn.Module):
    """Scores over 6 positions; rows whose first feature is flagged get `masked` positions set to -inf."""

    def __init__(self, masked):
        super().__init__()
        self.masked = masked
        self.score = nn.Linear(4, 6)
        self.softmax = nn.Softmax(dim=-1)
        self.out = nn.Linear(6, 3)

    def forward(self, x):
        mask = torch.zeros(len(x), 6, dtype=torch.bool)
        mask[:, :self.masked] = x[:, :1] > 1e3
        return self.out(self.softmax(self.score(x).masked_fill(mask, float("-inf"))))


def _flagged_rows():
    data = batches(12, (16, 4), classes=3)
    data[10][0][2, 0] = 1e4  # step 10 (sampled) holds a flagged row
    return data


def test_softmax_of_a_fully_masked_row_is_named(logdir):
    """An nn.Softmax turning an -inf mask into NaN is the first NaN producer, though its input is not finite."""
    torch.manual_seed(0)
    event = only(train(logdir, _MaskedAttention(6), _flagged_rows(), F.cross_entropy), "nonfinite_activation")
    assert event.step == 10 and event.tag == "module softmax"
    assert "-inf" in event.message and "-1e4" in event.hint


def test_partially_masked_row_is_healthy(logdir):
    """A row keeping one position: -inf enters the softmax, a finite output leaves it, no event."""
    torch.manual_seed(0)
    events = train(logdir, _MaskedAttention(5), _flagged_rows(), F.cross_entropy)
    assert [e for e in events if e.kind == "nonfinite_activation"] == []
