"""The tb-lossdiag command: report or scan the diagnostics of a log directory, or write the demo gallery."""

import argparse
import json
import sys
from typing import List, Optional

from tb_lossdiag import reader
from tb_lossdiag.events import SEVERITIES, severity_rank


def _report(args) -> int:
    return _read_and_print(args, reader.read_logdir)


def _scan(args) -> int:
    from tb_lossdiag.scan import scan_logdir

    return _read_and_print(args, lambda logdir: scan_logdir(logdir, write=args.write, force=args.force))


def _read_and_print(args, read) -> int:
    """Print the runs `read(logdir)` finds as a table or JSON; the exit status says what was found."""
    try:
        runs = read(args.logdir)
    except (FileNotFoundError, PermissionError) as error:
        print(f"tb-lossdiag: {error}", file=sys.stderr)
        return 2
    if not runs:
        print(f"tb-lossdiag: no event files below {args.logdir!r}; point it at the log_dir your "
              "DiagWriter (or SummaryWriter) wrote", file=sys.stderr)
        return 2
    if args.format == "json":
        payload = {
            "runs": [
                {"run": run.run, "events": [e.to_dict() for e in run.events], "notices": run.notices}
                for run in runs
            ]
        }
        print(json.dumps(payload, indent=2))
    else:
        print(format_table(runs))
    for run in runs:
        for notice in run.notices:
            print(f"tb-lossdiag: {run.run}: {notice}", file=sys.stderr)
    if args.fail_on:
        threshold = severity_rank(args.fail_on)
        if any(severity_rank(e.severity) >= threshold for run in runs for e in run.events):
            return 1
    return 0


def format_table(runs) -> str:
    """The human-readable report: one block per run, one line per event plus its fix."""
    lines = []
    for run in runs:
        counts = {s: sum(e.severity == s for e in run.events) for s in SEVERITIES}
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "healthy: no findings"
        lines.append(f"{run.run}  ({summary})")
        for e in run.events:
            when = "before training" if e.step < 0 else f"step {e.step:>7}"
            finding = f"{e.kind} [data]" if e.category == "data" else e.kind
            lines.append(f"  {when:<15}  {e.severity.upper():<7}  {finding:<28} {e.tag}")
            lines.append(f"      {e.message}")
            lines.append(f"      fix: {e.hint}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _demo(args) -> int:
    from tb_lossdiag import demo

    demo.write_gallery(args.logdir, args.only)
    print(f"wrote the demo gallery to {args.logdir}")
    if args.no_serve:
        print(f"view it with: tensorboard --logdir {args.logdir}   (then open the Loss Diagnostics tab)")
        return 0
    return demo.serve(args.logdir, args.port, args.host)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tb-lossdiag", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    report = commands.add_parser("report", help="print the diagnostic events found in a log directory")
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
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the tb-lossdiag console script."""
    args = build_parser().parse_args(argv)
    return args.run(args)
