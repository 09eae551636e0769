"""Per-value cost of the loss-curve detectors: µs per logged loss value, per detector and all together.

Feeds N values of a realistic noisy decaying training curve (and a validation value every 50 steps)
through `Diagnoser.loss` (what DiagWriter does while training), first with each default detector
alone, then with all of them, and last all of them through `Diagnoser.replay` (what `scan` does with
a curve on disk). Each figure is the least CPU time (time.process_time) of --repeat runs: on a shared
machine wall time and the slower runs measure the neighbours.
Run: `python benchmarks/curve_cost.py [--n 20000] [--repeat 5]`.
"""

import argparse
import functools
import math
import random
import time

from tb_lossdiag.detectors import LossPoint, default_detectors
from tb_lossdiag.diagnoser import Diagnoser

VAL_EVERY = 50


def curve(n: int, seed: int = 0):
    """LossPoints of a minibatch loss decaying from 2.3 to 0.2 with 20% multiplicative noise."""
    rng = random.Random(seed)
    points = []
    for step in range(n):
        level = 0.2 + 2.1 * math.exp(-step / (n / 10))
        points.append(LossPoint("loss/train", step, level * math.exp(0.2 * rng.gauss(0, 1))))
        if step % VAL_EVERY == VAL_EVERY - 1:
            points.append(LossPoint("loss/val", step, 1.1 * level * math.exp(0.02 * rng.gauss(0, 1)), True))
    return points


def cost(make_detectors, points, repeat: int = 1, replay: bool = False) -> float:
    """Fewest CPU µs per loss value of `repeat` fresh Diagnosers running `make_detectors()` over
    `points`, value by value or (`replay`) all at once."""
    best = float("inf")
    for _ in range(repeat):
        diagnoser = Diagnoser(make_detectors())
        start = time.process_time()
        if replay:
            diagnoser.replay(points)
        else:
            for point in points:
                diagnoser.loss(point)
        best = min(best, time.process_time() - start)
    return 1e6 * best / len(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="training loss values to feed")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure; the fastest is shown")
    args = parser.parse_args()
    points = curve(args.n)
    for detector in default_detectors():
        alone = functools.partial(lambda kind: [kind()], type(detector))
        print(f"{detector.id:28s} {cost(alone, points, args.repeat):8.2f} µs/value")
    print(f"{'all default detectors':28s} {cost(default_detectors, points, args.repeat):8.2f} µs/value")
    print(f"{'all, replayed (scan)':28s} {cost(default_detectors, points, args.repeat, replay=True):8.2f} µs/value")


if __name__ == "__main__":
    main()
