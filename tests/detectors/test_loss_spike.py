"""loss_spike: one value jumps far above the recent level and falls straight back (a bad batch)."""

import numpy as np
import torch
import torch.nn.functional as F

from curve_helpers import classification, decay, feed, fit, kinds, mlp, noisy
from tb_lossdiag.detectors.loss_spike import LossSpike


def _with_spike(at, value, n=400, seed=0):
    curve = noisy(decay(n, tau=50), 0.1, seed)
    curve[at] = value
    return curve


def test_scripted_one_off_jump_is_reported_at_its_step():
    """A 0.2 loss that reads 50 once, then 0.2 again: one event at that step with both numbers."""
    events = feed(LossSpike(), _with_spike(300, 50.0))
    assert len(events) == 1
    event = events[0]
    assert event.step == 300 and event.kind == "loss_spike" and event.severity == "warning"
    assert "jumped to 50" in event.message and "fell back" in event.message
    assert "check the data" in event.hint.lower()


def test_modest_spike_is_only_info():
    """A 5x jump that stays below the untrained model's loss is worth a note, not a warning."""
    events = feed(LossSpike(), _with_spike(300, 1.0))
    assert [e.severity for e in events] == ["info"]


def test_a_lasting_jump_is_not_a_spike():
    """A level that jumps and stays is not one-off (divergence judges that)."""
    curve = _with_spike(300, 5.0)
    curve[300:] = noisy(np.full(100, 5.0), 0.1)
    assert feed(LossSpike(), curve) == []


def test_heavy_tailed_small_batches_raise_no_warning():
    """Batch-of-4 losses with rare hard samples: no warnings, at most a few notes."""
    rng = np.random.default_rng(0)
    n = 4000
    hard = rng.random((n, 4)) < 0.02
    per_sample = np.where(hard, rng.exponential(3.0, (n, 4)), rng.exponential(0.05, (n, 4)))
    curve = per_sample.mean(1) + decay(n, start=2.3, floor=0.0, tau=50)
    events = feed(LossSpike(), curve)
    assert [e for e in events if e.severity != "info"] == []
    assert len(events) <= LossSpike.Thresholds.max_reports


def test_a_corrupted_batch_in_real_training(tmp_path):
    """Adam training that meets one garbage batch (unnormalized, x100) at step 150: reported at 150."""
    torch.manual_seed(0)
    model = mlp(10, 32, 3)
    garbage = (150, lambda x, y: (torch.randn_like(x) * 100, y))
    writer = fit(tmp_path, model, classification(), F.cross_entropy,
                 torch.optim.Adam(model.parameters(), lr=0.01), steps=200, batch=32, corrupt=garbage)
    events = kinds(writer.events, "loss_spike")
    assert [e.step for e in events] == [150]
    assert events[0].evidence["value"] > 10 * events[0].evidence["baseline"]
