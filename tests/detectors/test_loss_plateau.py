"""loss_plateau: the loss does not come down from its initial level over a long window."""

import numpy as np
import torch
import torch.nn.functional as F

from curve_helpers import classification, decay, feed, fit, kinds, mlp, noisy
from tb_lossdiag import DiagWriter
from tb_lossdiag.detectors.loss_plateau import LossPlateau
from tb_lossdiag.stats import LayerStats, StepStats


def watched():
    """A detector that has seen the model's gradients (watch(), or the swap-only probes)."""
    detector = LossPlateau()
    detector.on_step(StepStats(step=0, sampled=True, grad_norms={"w": 1.0}))
    return detector


def test_scripted_flat_loss_is_reported_once_with_numbers():
    """A loss stuck at 2.3 (2% noise) is reported by step 130, once, saying how little it moved."""
    events = feed(watched(), noisy(np.full(400, 2.3), 0.02))
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


def _ended(events):
    return [e for e in events if e.evidence.get("ended") == 1.0]


def test_a_loss_that_cannot_move_is_named_within_20_values():
    """Exactly 0.6931 from the first value: a warning at the 20th value, in a run of only 50."""
    events = feed(LossPlateau(), np.full(50, 0.6931))
    assert [(e.step, e.severity) for e in events] == [(19, "warning")]
    assert "exactly 0.6931" in events[0].message and "nothing is learning" in events[0].message
    assert "optimizer.step()" in events[0].hint


def test_a_loss_constant_after_learning_or_at_zero_is_not_stuck():
    """Constant at its floor after falling from 2.3 (a schedule at lr 0), or exactly 0: quiet."""
    assert feed(LossPlateau(), np.r_[decay(150, tau=20), np.full(60, 0.2)]) == []
    assert feed(LossPlateau(), np.zeros(60)) == []


def test_a_slow_start_is_info_and_ends_when_the_loss_falls():
    """Within 3% of 2.3 for 300 steps (a 3% drift under 1% noise: a rank trend of about -2.8
    standard errors per window), then learning: a slow-start note and its end, never a warning."""
    for seed in range(6):
        rng = np.random.default_rng(seed)
        flat = np.linspace(2.3, 2.23, 300) * np.exp(0.01 * rng.standard_normal(300))
        values = np.r_[flat, noisy(decay(400, start=2.23, floor=0.5, tau=60), 0.05, seed)]
        events = feed(LossPlateau(), values)
        assert [e.severity for e in events] == ["info", "info"], seed
        assert "slow start" in events[0].message
        (end,) = _ended(events)
        assert end.evidence["start_step"] <= events[0].step < 300 < end.evidence["end_step"] == end.step


def test_a_flat_loss_without_trend_is_a_warning_for_every_seed():
    """The same 300 steps without the drift: stuck, a warning at the first window."""
    for seed in range(6):
        events = feed(watched(), noisy(np.full(300, 2.3), 0.01, seed))
        assert events[0].severity == "warning" and events[0].step <= 130, seed
        assert "no downward trend" in events[0].message


def test_a_flat_float_loss_with_nothing_watched_is_a_note_not_a_warning():
    """The same flat curve with no model statistics (a float logged, no watch()): a slow start and a
    stuck run look alike, so one info note at the first window, never a warning; a loss that does not
    change by a single bit is still a warning."""
    for seed in range(3):
        events = feed(LossPlateau(), noisy(np.full(600, 2.3), 0.01, seed))
        assert [(e.severity, e.step <= 130) for e in events] == [("info", True)], seed
        assert "flat start" in events[0].message and "watch(model, optimizer)" in events[0].hint
    assert [e.severity for e in feed(LossPlateau(), np.full(50, 0.6931))] == ["warning"]


def test_a_stuck_loss_that_recovers_is_shown_as_ended_without_more_reminders():
    """No trend for 400 steps, then the learning rate is raised and it falls: the warning's span
    ends once, and nothing follows."""
    values = np.r_[noisy(np.full(400, 2.3), 0.02), noisy(decay(600, start=2.3, floor=0.3, tau=50), 0.05, 1)]
    events = feed(watched(), values)
    warnings = [e for e in events if e.severity == "warning"]
    (end,) = _ended(events)
    assert warnings and all(end.evidence["start_step"] <= w.step <= end.step for w in warnings)
    assert 400 < end.step < 520 and events[-1] is end
    assert "ended at step" in end.message and end.kind == "loss_plateau"


def _sampled(step, first_rms):
    """A sampled step of a 4-layer net whose first layer's per-value gradient is `first_rms` (the rest 1e-2)."""
    layers = tuple(LayerStats(name, 64, rms * 8.0) for name, rms in
                   (("0", first_rms), ("2", 5e-3), ("4", 8e-3), ("6", 1e-2)))
    return StepStats(step=step, sampled=True, grad_norms={"w": 1.0}, layers=layers)


def test_a_slow_fall_with_a_starved_first_layer_is_stuck():
    """The slow start above (a 3% drift over 300 steps), watched: with the first layer's gradient
    1e-5x the last's (a sigmoid stack: uvadlc's BaseNetwork) it is a warning naming that; with the
    gradient reaching the first layer (1e-2x) it stays a slow-start note."""
    rng = np.random.default_rng(0)
    values = np.linspace(2.3, 2.23, 300) * np.exp(0.01 * rng.standard_normal(300))
    for first_rms, severity in ((1e-7, "warning"), (1e-4, "info")):
        detector = LossPlateau()
        events = []
        for step, value in enumerate(values):
            if step % 10 == 0:
                detector.on_step(_sampled(step, first_rms))
            events += feed(detector, [value], first_step=step)
        assert events and events[0].severity == severity, first_rms
        assert ("first layer gets almost no gradient" in events[0].message) == (severity == "warning")
