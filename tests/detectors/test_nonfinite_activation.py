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
