"""How fast the Loss Diagnostics tab loads a big run: route times and the browser's paint time.

Writes one run with 1,000,000 loss points and 10,000 diagnostic events (one record each), serves it
with a real `tensorboard` (the default Rust loader unless --load-fast says otherwise), then prints
the plugin routes' times (median of --repeat requests, gzip accepted as a browser does) and the time
headless Chromium takes from the tab's iframe starting to load until its first complete paint.

    .venv/bin/python benchmarks/plugin_load.py [--logdir DIR] [--points 1000000] [--events 10000]
"""

import argparse
import gzip
import logging
import os
import statistics
import sys
import tempfile
import time
import urllib.request

from tensorboard.compat.proto import event_pb2, summary_pb2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

from plugin.harness import event, serve, tf_record, write_events  # noqa: E402

RUN = "big"
CHROMIUM = "/usr/bin/chromium"


def write_loss_points(path: str, points: int) -> None:
    """`points` values of "loss/train", one event record per step, written directly as TFRecords."""
    os.makedirs(path, exist_ok=True)
    name = os.path.join(path, f"events.out.tfevents.{int(time.time())}.bench.loss")
    with open(name, "wb") as f:
        for step in range(points):
            value = summary_pb2.Summary.Value(tag="loss/train", simple_value=2.0 / (1 + step / 1000))
            f.write(tf_record(event_pb2.Event(wall_time=1.7e9 + step, step=step, summary=summary_pb2.Summary(value=[value])).SerializeToString()))


def write_logdir(logdir: str, points: int, events: int) -> None:
    """The benchmark's run: the loss curve, then the events, as DiagWriter writes them."""
    started = time.perf_counter()
    write_loss_points(os.path.join(logdir, RUN), points)
    severities = ("error", "warning", "info")
    logging.disable(logging.CRITICAL)  # DiagWriter logs each event: 10,000 lines nobody reads here
    try:
        write_events(logdir, RUN, [[event(s * (points // events), severity=severities[s % 3])] for s in range(events)])
    finally:
        logging.disable(logging.NOTSET)
    print(f"wrote {points:,} loss points and {events:,} events in {time.perf_counter() - started:.1f} s")


def routes() -> tuple:
    """The plugin routes the tab requests for the benchmark's run."""
    return ("runs", f"events?run={RUN}", f"curves?run={RUN}")


def fully_loaded(events: int):
    """A `serve(ready=...)` check: TensorBoard serves all `events` and the loss curve."""
    return lambda tb: len(tb.api(f"events?run={RUN}")["events"]) == events and tb.api("runs")["runs"][0]["last_step"] is not None


def fetch(url: str, timeout: float = 120) -> tuple:
    """(seconds, bytes on the wire, decoded body) of GET `url`, gzip accepted as a browser does."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
        zipped = response.headers.get("Content-Encoding") == "gzip"
    seconds = time.perf_counter() - started
    return seconds, len(body), gzip.decompress(body) if zipped else body


def time_route(url: str, repeat: int) -> tuple:
    """(median seconds, response bytes) of GET `url`, gzip accepted."""
    results = [fetch(url) for _ in range(repeat)]
    return statistics.median(r[0] for r in results), results[-1][1]


def paint_time(url: str, repeat: int) -> list:
    """Milliseconds from the tab's iframe starting to load to its first complete paint, per load."""
    from playwright.sync_api import sync_playwright

    results = []
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, viewport={"width": 1600, "height": 1000},
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        for _ in range(repeat):
            page = context.new_page()
            page.goto(f"{url}/#lossdiag")
            iframe = page.locator("iframe[src*='plugin_entry.html?name=lossdiag']")
            iframe.wait_for(state="attached", timeout=60000)
            frame = iframe.element_handle().content_frame()
            frame.wait_for_function("() => document.body.dataset.paintedMs", timeout=60000)
            results.append(float(frame.evaluate("document.body.dataset.paintedMs")))
            page.close()
        context.close()
    return results


def run_arguments(doc: str) -> argparse.ArgumentParser:
    """A parser with the options the plugin benchmarks share: the run's place and size, the loader."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--logdir", help="reuse or create the benchmark log directory here (default: a temp dir)")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--load-fast", default="true", choices=("true", "false"))
    return parser


def prepared_logdir(args, tmp: str) -> str:
    """--logdir, or a new one in `tmp`, holding the benchmark's run (written when missing)."""
    logdir = args.logdir or os.path.join(tmp, "runs")
    if not os.path.isdir(os.path.join(logdir, RUN)):
        write_logdir(logdir, args.points, args.events)
    return logdir


def main() -> int:
    parser = run_arguments(__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        logdir = prepared_logdir(args, tmp)
        started = time.perf_counter()
        with serve(logdir, args.load_fast, ready=fully_loaded(args.events)) as tb:
            print(f"tensorboard --load_fast={args.load_fast}: every event served {time.perf_counter() - started:.1f} s after start")
            base = f"{tb.url}/data/plugin/lossdiag"
            for route in routes():
                seconds, size = time_route(f"{base}/{route}", args.repeat)
                print(f"GET /{route:<16} {seconds * 1000:8.1f} ms  ({size / 1024:,.0f} KiB gzipped)")
            if not os.path.exists(CHROMIUM):
                print(f"no browser at {CHROMIUM} (apt-get install chromium): paint time not measured")
                return 1
            paints = paint_time(tb.url, args.repeat)
            print(f"tab paint (iframe start -> runs, chart with {args.events:,} markers and event list drawn): "
                  f"median {statistics.median(paints):.0f} ms, all {', '.join(f'{p:.0f}' for p in paints)} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
