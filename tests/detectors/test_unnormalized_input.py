"""unnormalized_input: raw pixel values 0..255 fed to the model, and features far from unit scale in checked data."""

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from data_observations import observe
from scenarios import batches, mlp, only, problems, train
from tb_lossdiag.detectors._data import Magnitudes
from tb_lossdiag.detectors.unnormalized_input import UnnormalizedInput


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


def test_checked_data_far_from_unit_scale_fires_with_its_standardization():
    """Ages 18-90 in checked data: the data detector of the same kind, with the column's mean and std."""
    ages = np.random.default_rng(1).integers(18, 91, 300).astype(np.float64)
    (event,) = UnnormalizedInput().on_data(observe(Magnitudes, values=ages, image_like=False))
    assert (event.kind, event.category, event.tag) == ("unnormalized_input", "data", "data/x")
    assert f"x = (x - {ages.mean():.4g}) / {ages.std():.4g}" in event.hint
    assert UnnormalizedInput(max_scale=100).on_data(observe(Magnitudes, values=ages, image_like=False)) == ()


def test_raw_pixels_in_checked_data_and_normalized_data():
    """0-255 integers in image-like data are raw pixels (/ 255); standard-normal values are quiet."""
    pixels = np.random.default_rng(0).integers(0, 256, 1000).astype(np.float64)
    (event,) = UnnormalizedInput().on_data(observe(Magnitudes, values=pixels, image_like=True))
    assert "raw 0-255 pixel values" in event.message and "/ 255" in event.hint
    normal = np.random.default_rng(0).normal(size=1000)
    assert UnnormalizedInput().on_data(observe(Magnitudes, values=normal, image_like=False)) == ()
