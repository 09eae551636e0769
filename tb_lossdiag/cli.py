"""The tb-lossdiag command: report or scan the diagnostics of a log directory, write the demo gallery, or
show a batch file that watch(guard=True) kept."""

import argparse
import json
import math
import os
import sys
import time
from typing import List, Optional

from tb_lossdiag import reader
from tb_lossdiag.events import SEVERITIES, ended, severity_rank

# A terminal that has waited this long for the first line gets a progress line on stderr.
PROGRESS_AFTER_S = 1.0


def _report(args) -> int:
    return _read_and_print(args, lambda logdir, progress: reader.read_logdir(logdir, progress=progress))


def _scan(args) -> int:
    from tb_lossdiag.scan import scan_logdir

    return _read_and_print(
        args, lambda logdir, progress: scan_logdir(logdir, write=args.write, force=args.force, progress=progress))


def _read_and_print(args, read) -> int:
    """Print the runs `read(logdir, progress)` finds as a table or JSON; the exit status says what was found."""
    progress = _Progress(sys.stderr) if args.format == "text" and _is_terminal(sys.stderr) else None
    try:
        runs = read(args.logdir, progress)
    except (FileNotFoundError, PermissionError) as error:
        print(f"tb-lossdiag: {error}", file=sys.stderr)
        return 2
    finally:
        if progress is not None:
            progress.clear()
    if not runs:
        print(f"tb-lossdiag: no event files below {args.logdir!r}; point it at the log_dir your "
              "DiagWriter (or SummaryWriter) wrote", file=sys.stderr)
        return 2
    status = 0
    if args.fail_on:
        threshold = severity_rank(args.fail_on)
        if any(severity_rank(e.severity) >= threshold for run in runs for e in run.events):
            status = 1
    if not _print_quietly(lambda: _print(args.format, runs)):
        return status
    for run in runs:
        for notice in run.notices:
            print(f"tb-lossdiag: {run.run}: {notice}", file=sys.stderr)
    return status


def _print(format: str, runs) -> None:
    if format == "json":
        payload = {
            "runs": [
                {"run": run.run, "events": [e.to_dict() for e in run.events], "notices": run.notices,
                 "diagnosis": [d.to_dict() for d in run.diagnosis],
                 # a sharded job's global norms (rank 0's run only); JSON has no NaN: "nan", "inf" as in evidence
                 "combined": {tag: [[step, v if math.isfinite(v) else str(v)] for step, v in points]
                              for tag, points in run.combined.items()}}
                for run in runs
            ]
        }
        print(json.dumps(payload, indent=2))
    else:
        print(format_table(runs))


def _print_quietly(write) -> bool:
    """Run `write`; False when whoever reads stdout has closed it (`... | head -1`): not an error."""
    try:
        write()
        sys.stdout.flush()
        return True
    except BrokenPipeError:
        # Python would report the failed flush of the closed pipe again at exit: point stdout at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return False


def format_table(runs) -> str:
    """The human-readable report: per run, its diagnoses, then one line per event plus its fix."""
    lines = []
    for run in runs:
        endings = ended(run.events)
        enders = {id(e) for e in endings.values()}
        shown = [e for e in run.events if id(e) not in enders]
        counts = {s: sum(e.severity == s and id(e) not in endings for e in shown) for s in SEVERITIES}
        counts["ended"] = len(endings)
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "healthy: no findings"
        lines.append(f"{run.run}  ({summary})")
        if run.combined:
            lines.append(f"  {_job_norms(run.combined)}")
        for number, d in enumerate(run.diagnosis, 1):
            root = d.root
            where = "before training" if root.step < 0 else f"at step {root.step}"
            explained = f"; explains {len(d.consequences)} other events" if d.consequences else ""
            lines.append(f"  DIAGNOSIS {number} ({d.confidence}): root {root.kind} on {root.tag} {where}{explained}")
            lines.append(f"      {d.summary}")
        for e in shown:
            ender = endings.get(id(e))
            if ender is not None:
                span = f"steps {int(ender.evidence['start_step'])}-{int(ender.evidence['end_step'])}"
                when, label = span, "ENDED"
            else:
                when = "before training" if e.step < 0 else f"step {e.step:>7}"
                label = e.severity.upper()
            finding = f"{e.kind} [data]" if e.category == "data" else e.kind
            lines.append(f"  {when:<15}  {label:<7}  {finding:<28} {e.tag}")
            lines.append(f"      {e.message}" + (f" (ended at step {int(ender.evidence['end_step'])})" if ender else ""))
            lines.append(f"      fix: {e.hint}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _job_norms(combined) -> str:
    """A sharded job's global norms at its last combined step (each rank's diag/grad_norm is its shard's)."""
    step, grad = combined["diag/job/grad_norm"][-1]
    at = {tag[len("diag/job/"):]: dict(points).get(step) for tag, points in combined.items()}
    parts = [f"gradient norm {grad:.4g}", f"weight norm {at['weight_norm']:.4g}"]
    if at.get("update_ratio") is not None:
        parts.append(f"update ratio {at['update_ratio']:.3g}")
    return f"sharded job, every rank's shard combined, at step {step}: " + ", ".join(parts)


class _Progress:
    """A one-line progress report on a terminal's stderr, shown only once a read has taken a while."""

    def __init__(self, stream):
        self.stream, self.start, self.last, self.shown = stream, time.monotonic(), 0.0, False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.start < PROGRESS_AFTER_S or now - self.last < 0.1:
            return
        self.last, self.shown = now, True
        percent = 100 * done // max(total, 1)
        self.stream.write(f"\rtb-lossdiag: reading {percent:3d}% ({done / 1e6:,.0f} of {total / 1e6:,.0f} MB)")
        self.stream.flush()

    def clear(self) -> None:
        """Take the progress line away before the report is printed."""
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _is_terminal(stream) -> bool:
    return stream.isatty() and not os.environ.get("CI")


def _demo(args) -> int:
    from tb_lossdiag import demo

    demo.write_gallery(args.logdir, args.only)
    print(f"wrote the demo gallery to {args.logdir}")
    if args.no_serve:
        print(f"view it with: tensorboard --logdir {args.logdir}   (then open the Loss Diagnostics tab)")
        return 0
    return demo.serve(args.logdir, args.port, args.host)


def _batch(args) -> int:
    from tb_lossdiag import batchfile

    try:
        text = batchfile.describe(args.file)
    except (OSError, ValueError) as error:
        print(f"tb-lossdiag: cannot read {args.file!r} as a batch file: {error}", file=sys.stderr)
        return 2
    _print_quietly(lambda: print(text))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tb-lossdiag", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    report = commands.add_parser("report", help="print the diagnoses and events found in a log directory")
    scan = commands.add_parser(
        "scan", help="run the loss-curve detectors over runs written by any writer (SummaryWriter, "
        "Lightning, Keras, HF) and print what they find")
    for command, run in ((report, _report), (scan, _scan)):
        command.add_argument("logdir")
        command.add_argument("--format", choices=("text", "json"), default="text")
        command.add_argument("--fail-on", choices=("warning", "error"),
                             help="exit 1 when an event of this severity or worse exists (for CI)")
        command.set_defaults(run=run)
    scan.add_argument("--write", action="store_true",
                      help="also write the findings into a new event file beside each run's own "
                      "(never modified), so the Loss Diagnostics tab shows them")
    scan.add_argument("--force", action="store_true", help="also rescan runs a DiagWriter diagnosed while training")

    demo = commands.add_parser("demo", help="train the demo gallery of classic failures, then serve it")
    demo.add_argument("logdir")
    demo.add_argument("--no-serve", action="store_true", help="only write the runs; do not start TensorBoard")
    demo.add_argument("--only", nargs="+", metavar="SCENARIO", help="train only these scenarios")
    demo.add_argument("--port", type=int, default=6006)
    demo.add_argument("--host", default="localhost")
    demo.set_defaults(run=_demo)

    batch = commands.add_parser(
        "batch", help="print what a batch file kept by watch(guard=True) holds: shapes, dtypes, the rows "
        "and columns holding NaN/Inf, value ranges")
    batch.add_argument("file", help="<run>/lossdiag/batch-<step>.pt")
    batch.set_defaults(run=_batch)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the tb-lossdiag console script."""
    args = build_parser().parse_args(argv)
    return args.run(args)
