"""When a curve condition becomes visible: an offline reference the curve detectors are timed against.

It plays a person reading the run's loss chart, not a detector: at every logged step it looks only
at the values logged so far and asks textbook questions of them (Mann-Kendall for a trend,
Mann-Whitney for a shift, a Theil-Sen line, Fisher's g for a periodic component), sharing no code
or statistic with tb_lossdiag's detectors. The first step at which a condition is beyond doubt is
where it became visible. A change counts only if it also spans HEIGHT of the chart: a rise from
0.0074 to 0.0093 after a fall from 1.1 is a flat line on it. Values after the first NaN or
infinity are not read: a chart draws none of them.
"""

import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from tb_lossdiag.tags import DEFAULT_VALIDATION_RULE

Curve = Sequence[Tuple[int, float]]  # (step, value) in logging order

Z_TREND = 1.645  # Mann-Kendall |Z| of a trend significant at 5% (one-sided)
HEIGHT = 0.1  # the smallest change a chart shows plainly: this fraction of its height
BAND = 16  # a noisy curve's level: the geometric mean of this many last values (its band's middle)
RISE = 2.0  # divergence: the level at this multiple of its lowest point
PLATEAU_WINDOW = 100  # plateau: logged values with no trend, near the first values:
PLATEAU_START_POINTS = 5  # ...not significantly below these first values...
PLATEAU_PROGRESS = 0.2  # ...or within this fraction of their level
CYCLES = 3  # oscillation: a rhythm seen at least this many times...
OSCILLATION_WINDOWS = (24, 48, 96)  # ...in one of these windows of last values
OSCILLATION_P = 1e-3  # ...beating white noise at this p-value of Fisher's g test...
SWING = math.log(1.5)  # ...swinging at least 1.5x peak to trough, more than the trend moves it...
SUSTAIN = 8  # ...at this many steps in a row
VAL_RISE = 0.2  # overfitting: validation rising this fraction above its lowest value...


def mann_kendall(xs: Sequence[float]) -> float:
    """Mann-Kendall Z of `xs` (normal approximation): > Z_TREND a rising trend, < -Z_TREND a falling one."""
    x = np.asarray(xs, dtype=float)
    n = len(x)
    if n < 3:
        return 0.0
    s = np.sign(x[None, :] - x[:, None])[np.triu_indices(n, 1)].sum()
    return float((s - np.sign(s)) / math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0))


def mann_whitney(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Mann-Whitney Z (normal approximation): > Z_TREND when `xs` tend to lie above `ys`."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    u = (x[:, None] > y[None, :]).sum() + 0.5 * (x[:, None] == y[None, :]).sum()
    n, m = len(x), len(y)
    return float((u - n * m / 2) / math.sqrt(n * m * (n + m + 1) / 12.0))


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> Tuple[float, float]:
    """(slope, intercept) of the Theil-Sen line: the median slope over all pairs, robust to outliers."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    i, j = np.triu_indices(len(x), 1)
    apart = x[j] != x[i]
    slope = float(np.median((y[j] - y[i])[apart] / (x[j] - x[i])[apart]))
    return slope, float(np.median(y - slope * x))


def geometric_mean(xs: Sequence[float]) -> float:
    """The middle of a positive curve's band as a log-scale chart shows it; one spike barely moves it."""
    return float(np.exp(np.mean(np.log(xs))))


def shows(change: float, xs: Sequence[float]) -> bool:
    """Whether a change spans at least HEIGHT of a chart of the values `xs` (any change, if they are flat).

    A rise is measured against the chart up to where it began: a rise must not hide itself.
    """
    return change >= HEIGHT * (max(xs) - min(xs))


def divergence(curve: Curve) -> Optional[int]:
    """First step whose level is RISE x its lowest level, beyond that band's own spread, and still climbing.

    The band at the lowest level spans max/min of its values: in a band spanning 10x, a doubling of
    its middle is not visible. Climbing: the last BAND values rise (MK), so the aftermath of one
    bad batch, already falling back, is not a divergence.
    """
    values = [v for _, v in curve]
    if min(values, default=0.0) <= 0:
        return None  # a rise is judged as a ratio: of a positive loss only
    bands = [values[max(0, i + 1 - BAND): i + 1] for i in range(len(values))]
    level = [geometric_mean(band) for band in bands]
    first = BAND // 4 - 1  # the first band with values enough to have a spread
    for i in range(first, len(values)):
        low = first + int(np.argmin(level[first: i + 1]))
        if (
            level[i] >= max(RISE, max(bands[low]) / min(bands[low])) * level[low]
            and shows(level[i] - level[low], values[: low + 1])
            and mann_kendall(bands[i]) > Z_TREND
        ):
            return curve[i][0]
    return None


def plateau(curve: Curve) -> Optional[int]:
    """First step ending PLATEAU_WINDOW values with no trend either way (MK) and a level near the start.

    Near the start: the window's level (geometric mean) within PLATEAU_PROGRESS of the first
    values' level, or the window not significantly below the first values (Mann-Whitney): a
    noisy start's level is itself uncertain.
    """
    values = [v for _, v in curve]
    if len(values) < PLATEAU_WINDOW or min(values) <= 0:
        return None  # progress is judged as a ratio: of a positive loss only
    first = values[:PLATEAU_START_POINTS]
    start = geometric_mean(first)
    for i in range(PLATEAU_WINDOW - 1, len(values)):
        window = values[i + 1 - PLATEAU_WINDOW: i + 1]
        near_start = (
            abs(geometric_mean(window) - start) < PLATEAU_PROGRESS * start
            or mann_whitney(first, window) < Z_TREND
        )
        if near_start and abs(mann_kendall(window)) < Z_TREND:
            return curve[i][0]
    return None


def rhythm(xs: Sequence[float]) -> Tuple[float, float, float]:
    """(Fisher's g p-value, swing, fall of the fitted line) of the strongest cycle in `xs`.

    Only periods of at most len(xs) / CYCLES count, and the swing (peak to trough) is the cycle's
    smallest in any CYCLES-th of `xs`: a rhythm is seen repeat, not guessed from one bump.
    """
    x = np.asarray(xs, dtype=float)
    n = len(x)
    t = np.arange(n)
    slope, intercept = theil_sen(t, x)  # a line that one bump in the window does not tilt
    resid = x - slope * t - intercept
    power = np.abs(np.fft.rfft(resid)[CYCLES:]) ** 2
    if power.sum() == 0:
        return 1.0, 0.0, -slope * (n - 1)
    k = int(np.argmax(power))
    g = power[k] / power.sum()
    m = len(power)
    # Fisher's first-term bound on P(g >= observed) when the series is white noise.
    p = min(1.0, m * (1 - g) ** (m - 1))
    wave = np.exp(-2j * np.pi * (k + CYCLES) * t / n)
    # A cosine of amplitude 2|X|/len swings twice that; at the alternating frequency |X|/len does.
    scale = 2 if 2 * (k + CYCLES) == n else 4
    parts = np.array_split(t, CYCLES)
    swing = min(scale * abs((resid[part] * wave[part]).sum()) / len(part) for part in parts)
    return p, swing, -slope * (n - 1)


def oscillation(curve: Curve) -> Optional[int]:
    """First step ending SUSTAIN steps in a row at which some window of the loss (log) cycles.

    Cycles: a significant periodic component (Fisher's g) swinging at least SWING, by more than the
    window's fitted trend falls, over a range spanning HEIGHT of the chart. In a row: a rhythm that
    one window shows and the next does not is a coincidence of where the window ends.
    """
    values = [v for _, v in curve]
    if min(values, default=0.0) <= 0:
        return None  # swings are judged as ratios: of a positive loss only
    logs = np.log(values)
    held = 0
    for i in range(len(values)):
        held = held + 1 if any(_cycles(values, logs, i, n) for n in OSCILLATION_WINDOWS if n <= i + 1) else 0
        if held >= SUSTAIN:
            return curve[i][0]
    return None


def _cycles(values: Sequence[float], logs: np.ndarray, i: int, n: int) -> bool:
    """Whether the `n` values ending at index `i` cycle (see `oscillation`)."""
    p, swing, fall = rhythm(logs[i + 1 - n: i + 1])
    window = values[i + 1 - n: i + 1]
    significant = p < OSCILLATION_P and swing >= SWING and swing > fall
    return significant and shows(max(window) - min(window), values[: i + 1])


def overfitting(train: Curve, val: Curve) -> Optional[int]:
    """First validation step whose values since their lowest rise (MK) by VAL_RISE while training falls (MK).

    The rise is that of the Theil-Sen line through the validation values since their lowest: a
    lucky low evaluation or one odd high one does not make it.
    """
    steps, values = [s for s, _ in val], [v for _, v in val]
    for i in range(len(values)):
        low = int(np.argmin(values[: i + 1]))
        if i - low < 2:
            continue  # a line needs three values
        slope, intercept = theil_sen(steps[low: i + 1], values[low: i + 1])
        start = intercept + slope * steps[low]
        rise = slope * (steps[i] - steps[low])
        since = [v for s, v in train if steps[low] <= s <= steps[i]]
        if (
            rise >= VAL_RISE * abs(start)
            and shows(rise, values[: low + 1])
            and mann_kendall(values[low: i + 1]) > Z_TREND
            and mann_kendall(since) < -Z_TREND
        ):
            return steps[i]
    return None


def visible(curves: Dict[str, Curve]) -> Dict[str, int]:
    """Curve kind -> the first step it is visible in a run's loss curves (tag -> (step, value) pairs).

    Validation curves are those tb_lossdiag's default rule names so; each is read against every
    training curve of the run.
    """
    train = {t: _finite_start(c) for t, c in curves.items() if not DEFAULT_VALIDATION_RULE(t)}
    val = {t: _finite_start(c) for t, c in curves.items() if DEFAULT_VALIDATION_RULE(t)}
    found = {}
    for kind, steps in (
        ("loss_divergence", [divergence(c) for c in train.values()]),
        ("loss_plateau", [plateau(c) for c in train.values()]),
        ("loss_oscillation", [oscillation(c) for c in train.values()]),
        ("overfitting", [overfitting(t, v) for t in train.values() for v in val.values()]),
    ):
        steps = [s for s in steps if s is not None]
        if steps:
            found[kind] = min(steps)
    return found


def _finite_start(curve: Curve) -> List[Tuple[int, float]]:
    """The curve up to its first NaN or infinity."""
    out = []
    for step, value in curve:
        if not math.isfinite(value):
            break
        out.append((step, value))
    return out
