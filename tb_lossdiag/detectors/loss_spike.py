"""loss_spike: a sudden one-off jump of the loss that falls back at once (usually a bad batch)."""

import dataclasses

import numpy as np

from tb_lossdiag.detectors.curve import CurveDetector, Episodes, Trace, fmt
from tb_lossdiag.robust import diff_sigma, median, row_diff_sigmas, row_medians

HINT = (
    "Check the data of that step for a corrupted or mislabeled batch (NaN/Inf, wrong scale, "
    "unnormalized images, outliers in the targets); if spikes recur, clip gradients "
    "(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)) or lower the learning rate."
)


class LossSpike(CurveDetector):
    """Fires when one value jumps far above the recent level and the next one is back down."""

    id = "loss_spike"

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        baseline_points: int = 32  # the recent level is the median of this many values before
        min_points: int = 10  # no judgement before this many values
        ratio: float = 3.0  # a spike is at least this many times the recent level...
        noise_z: float = 8.0  # ...and this many point-noise sigmas above it
        warn_ratio: float = 10.0  # warning (not info) from this ratio...
        warn_above_start: float = 10.0  # ...when the value is also this many times the initial loss
        beyond_usual: float = 2.0  # ...and this many times the largest jump of the recent past
        memory: int = 1000  # values over which the largest jump is forgotten (halved)
        max_reports: int = 5  # spikes reported per tag
        every: int = 8  # values between refreshes of the recent level and noise (a median each)

    def new_state(self):
        t = self.thresholds
        return _SpikeState(t.baseline_points, 0.5 ** (1.0 / t.memory))

    def new_episodes(self):
        # Each spike is an episode of one value: no reminders, max_reports of them.
        return Episodes(reminders=0, max_onsets=self.thresholds.max_reports)

    def calm(self, tag, state):
        return state.pending is None and state.baseline is not None

    def marks(self, state, steps, values):
        # With no spike pending a value matters only if it jumps noise_z sigmas above the level.
        if not state.trace.mature:
            return None
        return np.flatnonzero(~(self._jumps(state, values)[0] <= self.thresholds.noise_z))

    def absorb(self, tag, state, steps, values):
        jumps, state.baseline, state.sigma = self._jumps(state, values)
        record, fade = state.record, state.fade
        for jump_z in np.minimum(jumps, 1e12).tolist():  # judge()'s sequence of roundings, value by value
            record = max(record * fade, jump_z)
        state.record = record
        state.trace.extend(steps, values)

    def _jumps(self, state, values):
        """(jump_z of each of these finite values, as judge() finds it; the baseline and sigma after them)."""
        t = self.thresholds
        trace = state.trace
        n, window = len(values), trace.recent.maxlen
        history = np.concatenate([trace.values(), values])
        refresh = np.flatnonzero((trace.count + np.arange(n)) % t.every == 0)  # judge() refreshes before add()
        windows = np.lib.stride_tricks.sliding_window_view(history, window)[refresh]
        # trace.noise() then: the median linear noise of the last full blocks before the value
        coming = trace.coming_blocks(values)
        done = np.searchsorted([end for end, _ in coming], refresh)  # of them, completed before each refresh
        noises = np.array([noise for _, noise, _ in trace.blocks] + [noise for _, (_, noise, _) in coming])
        noise = row_medians(np.lib.stride_tricks.sliding_window_view(noises, trace.blocks.maxlen)[done])
        baselines = np.append(state.baseline, row_medians(windows))
        sigmas = np.append(state.sigma, np.maximum(row_diff_sigmas(windows), noise))
        last = np.zeros(n, dtype=np.int64)  # 1 + the index of each value's refresh, 0: the state's
        last[refresh] = np.arange(1, len(refresh) + 1)
        last = np.maximum.accumulate(last)
        jump, sigma = values - baselines[last], sigmas[last]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(sigma > 0, jump / sigma, np.where(jump > 0, np.inf, 0.0))
        return z, float(baselines[last[-1]]), float(sigmas[last[-1]])

    def judge(self, point, state):
        trace = state.trace
        t = self.thresholds
        if trace.count < t.min_points:
            trace.add(point.step, point.value)
            return ()
        if state.baseline is None or trace.due(t.every):
            # A median over the last baseline_points values barely moves in `every` values.
            values = trace.values()
            state.baseline, state.sigma = median(values), max(diff_sigma(values), trace.noise())
        baseline, sigma = state.baseline, state.sigma
        events = []
        pending = state.pending
        if pending is not None:
            state.pending = None
            step, value, base = pending
            # One-off: this value is back below half of the jump; otherwise the level moved.
            if point.value < base + 0.5 * (value - base):
                events.extend(self._report(point.tag, step, value, base, trace))
        jump = point.value - baseline
        jump_z = jump / sigma if sigma > 0 else (float("inf") if jump > 0 else 0.0)
        # Small batches have heavy tails: a jump counts only when far beyond the largest jumps
        # this curve made in the recent past (a record that slowly fades).
        usual = t.beyond_usual * state.record
        state.record = max(state.record * state.fade, min(jump_z, 1e12))
        is_jump = (
            jump_z > max(t.noise_z, usual)
            and (point.value >= t.ratio * baseline if baseline > 0 else jump >= (t.ratio - 1) * abs(baseline))
        )
        if is_jump and pending is None:
            state.pending = (point.step, point.value, baseline)
        # The baseline is a median, so one spike inside it barely moves it.
        trace.add(point.step, point.value)
        return events

    def _report(self, tag, step, value, baseline, trace):
        """The event for a confirmed one-off spike (at most max_reports per tag)."""
        t = self.thresholds
        if self.episodes.update(tag, True, step) is None:
            return []
        self.episodes.update(tag, False, step)
        ratio = value / baseline if baseline > 0 else float("inf")
        # Heavy-tailed small batches jump too, but not far above what the untrained model scored.
        beyond_start = trace.start is not None and trace.start > 0 and value >= t.warn_above_start * trace.start
        severity = "warning" if ratio >= t.warn_ratio and beyond_start else "info"
        times = f" ({fmt(ratio)}x)" if baseline > 0 else ""
        return [
            self.event(
                step,
                severity,
                tag,
                f"loss jumped to {fmt(value)} at step {step} from a recent level of "
                f"{fmt(baseline)}{times}, then fell back",
                HINT,
                value=value,
                baseline=baseline,
            )
        ]


class _SpikeState:
    """Per-tag state: the recent curve and its cached level and noise, a pending spike, the largest recent jump."""

    def __init__(self, recent: int, fade: float):
        self.trace = Trace(recent=recent)
        self.pending = None  # (step, value, baseline) of a jump seen on the previous value
        self.record = 0.0  # largest jump in noise sigmas, fading by `fade` per value
        self.fade = fade
        self.baseline = None  # median of the recent values, refreshed every `every` values
        self.sigma = 0.0  # their point noise, refreshed with it
