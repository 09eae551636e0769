"""overfitting: the validation loss rises while the training loss of the same family keeps falling."""

import collections
import dataclasses
import math
from typing import Deque

import numpy as np

from tb_lossdiag.detectors.curve import CurveDetector, Trace, family, fmt, still
from tb_lossdiag.robust import diff_sigma, median

HINT = (
    "The model is memorizing the training set: use early stopping (keep the checkpoint with the "
    "best validation loss), add regularization (weight_decay in the optimizer, dropout), data "
    "augmentation or more data, or use a smaller model."
)


class Overfitting(CurveDetector):
    """Fires when validation loss climbs above its best while training loss goes on falling.

    Its state is per family ("loss/train" and "loss/val" are the family "loss"), both curves in one.
    """

    id = "overfitting"
    validation = True

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        smooth_points: int = 3  # validation level = median of this many last validation values
        patience: int = 2  # validation values in a row the rise must hold on
        min_rise: float = 0.1  # relative rise of the validation level above its best
        min_rise_of_progress: float = 0.02  # ...and this fraction of its fall from its first level
        noise_z: float = 4.0  # ...that must also exceed this many validation-noise sigmas
        min_train_drop: float = 0.05  # relative fall of the training level since the best validation
        train_points: int = 16  # training level = median of this many last training values
        train_z: float = 2.0  # ...whose fall must exceed this many of its noise sigmas
        reminders: int = 2

    def new_state(self):
        return _FamilyState(Trace(recent=self.thresholds.train_points))

    def on_loss(self, point):
        return self.judge(point, self.states.get(family(point.tag)))

    def key(self, tag):
        return family(tag)

    def on_losses(self, tag, steps, values, validation):
        if validation:
            return super().on_losses(tag, steps, values, validation)
        finite = np.isfinite(values)  # a training value only extends the family's training curve
        self.states.get(self.key(tag)).train.extend(steps[finite], values[finite])
        return []

    def judge(self, point, state):
        if not math.isfinite(point.value):
            return ()
        if not point.is_validation:
            state.train.add(point.step, point.value)
            return ()
        if state.train.count < self.thresholds.train_points // 2:
            return ()  # no training curve to compare with (yet)
        return self._on_validation(point, family(point.tag), state.train, state.val)

    def _on_validation(self, point, key, train, val):
        """Update the validation state `val` of family `key` and judge it against the training curve."""
        t = self.thresholds
        train_level = train.level(t.train_points)
        val.values.append(point.value)
        if len(val.values) < t.smooth_points:
            return ()
        level = median(list(val.values)[-t.smooth_points:])
        if val.initial is None:
            val.initial = level
        if val.best is None or level < val.best[0]:
            val.best = (level, point.step, train_level)
            val.held = 0
            self.episodes.update(key, False, point.step)
            return ()
        best, best_step, train_at_best = val.best
        rise = level - best
        sigma = diff_sigma(list(val.values))
        train_drop = (train_at_best - train_level) / abs(train_at_best) if train_at_best else 0.0
        # Both training levels are medians of noisy minibatch losses: a drop must beat their noise.
        train_sigma = train.log_noise()
        if train_sigma is None:
            train_sigma = train.noise() / abs(train_at_best) if train_at_best else 0.0
        train_noise = 1.25 * train_sigma * math.sqrt(2.0 / t.train_points)
        if self.episodes.active(key):
            # Hysteresis: the episode lasts while validation stays clearly above its best.
            active = rise > 0.5 * t.min_rise * abs(best)
        else:
            # A converged validation loss wiggling at 1% of where it began is not memorization.
            progress = max(0.0, val.initial - best)
            rising = (
                rise >= t.min_rise * abs(best)
                and rise >= t.min_rise_of_progress * progress
                and rise > t.noise_z * sigma
                and train_drop >= max(t.min_train_drop, t.train_z * train_noise)
            )
            # A lucky low validation value makes later ordinary ones look high for a moment;
            # overfitting lasts.
            val.held = val.held + 1 if rising else 0
            active = val.held >= t.patience
        state = self.episodes.update(key, active, point.step)
        if state is None:
            return ()
        return [
            self.event(
                point.step,
                "warning",
                point.tag,
                f"validation loss {still(state)}rose from {fmt(best)} at step {best_step} to {fmt(level)} at "
                f"step {point.step} (+{fmt(100 * rise / abs(best))}%) while the training loss fell "
                f"from {fmt(train_at_best)} to {fmt(train_level)}",
                HINT,
                best_val=best,
                best_step=best_step,
                val=level,
                train_at_best=train_at_best,
                train=train_level,
            )
        ]


class _FamilyState:
    """Per-family state: the training curve's Trace and the validation state."""

    def __init__(self, train: Trace):
        self.train = train
        self.val = _ValState()


class _ValState:
    """Per-family validation state: recent validation values, the first and the best smoothed level."""

    def __init__(self, recent: int = 32):
        self.values: Deque[float] = collections.deque(maxlen=recent)
        self.best = None  # (level, step, training level then)
        self.initial = None  # the first smoothed level
        self.held = 0  # validation values in a row that looked like overfitting
