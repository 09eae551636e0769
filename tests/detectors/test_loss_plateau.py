"""loss_plateau: the loss does not come down from its initial level over a long window."""

import numpy as np
import torch
import torch.nn.functional as F

from curve_helpers import classification, decay, feed, fit, kinds, mlp, noisy
from tb_lossdiag import DiagWriter
from tb_lossdiag.detectors.loss_plateau import LossPlateau


def test_scripted_flat_loss_is_reported_once_with_numbers():
    """A loss stuck at 2.3 (2% noise) is reported by step 130, once, saying how little it moved."""
    events = feed(LossPlateau(), noisy(np.full(400, 2.3), 0.02))
    assert events and 100 <= events[0].step <= 130
    first = events[0]
    assert first.kind == "loss_plateau" and first.severity == "warning"
    assert "not improved over steps" in first.message and "of its initial 2.29" in first.message
    assert "raise the learning rate" in first.hint
    assert len(events) <= 3  # onset + at most two reminders over 400 steps


def test_converged_floor_is_not_a_plateau():
    """A loss that fell from 2.3 to 0.2 and then stays flat for 3000 steps is converged, not stuck."""
    values = noisy(decay(3000, tau=80), 0.2)
    assert feed(LossPlateau(), values) == []


def test_slow_but_real_start_is_not_a_plateau():
    """A noisy loss that takes 300 steps to fall (slow warmup) gets through its first window."""
    for seed in range(3):
        assert feed(LossPlateau(), noisy(decay(1500, tau=300), 0.2, seed)) == []


def test_tiny_learning_rate_in_real_training(tmp_path):
    """SGD(lr=1e-6): the loss sits at its initial value; one warning within 30 steps of the first window."""
    torch.manual_seed(0)
    model = mlp(10, 32, 3)
    writer = fit(tmp_path, model, classification(), F.cross_entropy,
                 torch.optim.SGD(model.parameters(), lr=1e-6), steps=250, batch=64)
    events = kinds(writer.events, "loss_plateau")
    assert events and events[0].step <= 130
    assert len([e for e in events if "has still not" not in e.message]) == 1
    assert "learning rate" in events[0].hint


def test_window_is_tunable_through_the_writer(tmp_path):
    """tune={"loss_plateau": {"window": 300}} waits for 300 flat values."""
    writer = DiagWriter(str(tmp_path), tune={"loss_plateau": {"window": 300}})
    for step, value in enumerate(noisy(np.full(500, 1.1), 0.02)):
        writer.add_scalar("loss/train", float(value), step)
    writer.close()
    events = kinds(writer.events, "loss_plateau")
    assert events and 300 <= events[0].step <= 400


def test_a_rising_loss_is_no_plateau_and_never_reads_negative():
    """Stuck at 12.7, then climbing to 16+: the plateau ends; no message says '-27% lower'."""
    values = noisy(np.r_[np.full(250, 12.7), np.linspace(12.7, 17.0, 300)], 0.01)
    events = feed(LossPlateau(), values)
    assert events and all(e.step < 330 for e in events)
    assert not any("-" in e.message.split("(")[1].split(")")[0] for e in events)
