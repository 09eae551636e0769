"""Many users at once: 50 clients hammer the plugin's routes of a big run; every answer must be right.

Writes (or reuses) plugin_load.py's run of 1,000,000 loss points and 10,000 diagnostic events,
serves it with a real `tensorboard` on 127.0.0.1, takes each route's answer from one client, then
starts --clients threads that each send --requests requests (cycling through /runs, /events,
/curves) within --cap seconds. Prints latency percentiles per route and the errors: a failed
request or an answer that differs from the single-client one. Exits 1 when there was any error or
the cap stopped a client early.

    .venv/bin/python benchmarks/plugin_concurrency.py [--logdir DIR] [--clients 50] [--requests 20]
"""

import collections
import json
import math
import sys
import tempfile
import threading
import time

from plugin_load import fetch, fully_loaded, prepared_logdir, routes, run_arguments  # also puts tests/ on sys.path

from plugin.harness import serve


def percentile(sorted_values: list, p: float) -> float:
    """The nearest-rank p-th percentile of sorted values."""
    return sorted_values[max(math.ceil(p / 100 * len(sorted_values)) - 1, 0)]


def hammer(base: str, expected: dict, clients: int, requests: int, cap: float) -> tuple:
    """({route: [seconds of each correct answer]}, [error texts], requests not sent before the cap)."""
    times = collections.defaultdict(list)
    errors, unsent = [], [0]
    lock = threading.Lock()
    deadline = time.monotonic() + cap
    names = list(expected)

    def client(index: int) -> None:
        for i in range(requests):
            left = deadline - time.monotonic()
            if left <= 0:
                with lock:
                    unsent[0] += requests - i
                return
            route = names[(index + i) % len(names)]
            try:
                seconds, _, body = fetch(f"{base}/{route}", timeout=left)
                problem = None if json.loads(body) == expected[route] else "an answer different from the single-client one"
            except Exception as error:  # noqa: BLE001 - every failure is counted and reported, none stops the run
                seconds, problem = None, f"{type(error).__name__}: {error}"
            with lock:
                if problem:
                    errors.append(f"client {index}, GET /{route}: {problem}")
                else:
                    times[route].append(seconds)

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(deadline - time.monotonic(), 0) + 5)  # a request in flight gets its own timeout
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        errors.append(f"{stuck} clients still waiting for an answer after the {cap:.0f} s cap")
    return times, errors, unsent[0]


def main() -> int:
    parser = run_arguments(__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20, help="requests per client")
    parser.add_argument("--cap", type=float, default=60.0, help="seconds the clients may take in all")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        logdir = prepared_logdir(args, tmp)
        with serve(logdir, args.load_fast, ready=fully_loaded(args.events)) as tb:
            base = f"{tb.url}/data/plugin/lossdiag"
            expected = {route: json.loads(fetch(f"{base}/{route}")[2]) for route in routes()}
            print(f"{args.clients} clients x {args.requests} requests (cap {args.cap:.0f} s), tensorboard --load_fast={args.load_fast}")
            started = time.perf_counter()
            times, errors, unsent = hammer(base, expected, args.clients, args.requests, args.cap)
            wall = time.perf_counter() - started
    answered = sum(len(t) for t in times.values())
    print(f"{answered:,} correct answers in {wall:.1f} s ({answered / wall:.1f}/s); {len(errors)} errors; {unsent} not sent (cap)")
    print(f"{'route':<18} {'n':>5} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'max ms':>9}")
    for route in routes():
        ms = sorted(t * 1000 for t in times[route])
        if ms:
            print(f"/{route:<17} {len(ms):>5} " + " ".join(f"{percentile(ms, p):>9.0f}" for p in (50, 90, 99, 100)))
    for error in errors[:10]:
        print("error:", error)
    return 1 if errors or unsent else 0


if __name__ == "__main__":
    sys.exit(main())
