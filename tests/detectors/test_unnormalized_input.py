"""unnormalized_input: raw pixel values 0..255 fed to the model."""

import torch
import torch.nn.functional as F
from torch import nn

from scenarios import batches, mlp, only, problems, train


def test_raw_pixels_are_caught_at_step_0(logdir):
    """Images in 0..255 (float): reported at step 0 with their mean and max."""
    data = [(torch.randint(0, 256, (16, 3, 4, 4)).float(), y) for _, y in batches(3, (16, 2), classes=4)]
    model = nn.Sequential(nn.Flatten(), mlp(48, 16, 4))
    event = only(train(logdir, model, data, F.cross_entropy), "unnormalized_input")
    assert event.step == 0 and event.severity == "warning"
    assert 100 < event.evidence["mean"] < 160 and event.evidence["absmax"] == 255
    assert "255" in event.hint


def test_token_ids_are_not_unnormalized(logdir):
    """Integer token ids in the thousands feed an Embedding: no event."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Embedding(5000, 8), nn.Flatten(), nn.Linear(40, 4))
    data = [(torch.randint(1000, 5000, (16, 5)), y) for _, y in batches(12, (16, 2), classes=4)]
    assert problems(train(logdir, model, data, F.cross_entropy)) == []


def test_infinite_input_is_not_unnormalized(logdir):
    """An inf feature makes the RMS inf: nonfinite_input's case, not a scale warning."""
    data = batches(3, (16, 8), classes=4)
    data[0][0][3, 2] = float("inf")
    events = train(logdir, mlp(8, 16, 4), data, F.cross_entropy)
    assert only(events, "nonfinite_input").step == 0
    assert [e for e in events if e.kind == "unnormalized_input"] == []
