"""Detection quality on the fault zoo and the real-world set: recall, false alarms, root-cause accuracy.

Runs every script of benchmarks/zoo and benchmarks/realworld (two at a time, each in a fresh forked
process, each into its own log directory), reads what tb_lossdiag wrote with `read_logdir`, and
scores it against the script's EXPECT/ONSET/ALLOW and its `# root:` header line (the kinds that are
right as the root cause: the first diagnosis of `tb_lossdiag.diagnosis.diagnose` must name one).
A curve condition is also timed from the step it became visible in the logged loss curves, as the
independent reference benchmarks/visibility.py judges it. The zoo is where thresholds are tuned: it
exits 1 when an expected kind is missed, a curve condition is reported more than VISIBLE_WITHIN
steps after it became visible, a healthy run is flagged or a script fails. The real-world set is
the held-out test: it only reports.
Run: `python benchmarks/detection.py [--set zoo|realworld|all] [--only NAME...] [--json PATH] [--markdown]`.
"""

import argparse
import dataclasses
import importlib
import json
import multiprocessing
import pathlib
import re
import statistics
import sys
import tempfile
import time
import traceback
from typing import Dict, List, Optional

import torch

from tb_lossdiag import read_logdir
from tb_lossdiag.tags import DEFAULT_LOSS_RULE, matcher

HERE = pathlib.Path(__file__).resolve().parent
SETS = ("zoo", "realworld")  # the zoo gates the build; the real-world set is held out and only reported
# Imported as benchmarks.detection (tests) or run as a script (benchmarks/ is then on sys.path).
PACKAGE = f"{__package__}." if __package__ else ""
ROOT_LINE = re.compile(r"^# root:(.*)$", re.MULTILINE)
NOT_AVAILABLE = "n/a"  # what the root columns say while tb_lossdiag.diagnosis does not exist
visibility = importlib.import_module(f"{PACKAGE}visibility")
FLAGGED = ("warning", "error")  # what a user is told about; info events are neither hits nor alarms
TIMEOUT_S = 60
VISIBLE_WITHIN = 50  # the most steps a curve condition may go unreported once visible in the curve
# Kinds that report a NaN/Inf (or the op that made one); a script expecting or allowing one also allows
# ORIGIN_KIND, the event naming where that NaN was born (added after most EXPECT/ALLOW lines were written).
# A diagnosis rooted at the birthplace names the finding of the kind reporting NaN at that place.
ORIGIN_AS = {"input": "nonfinite_input", "module": "nonfinite_activation", "loss": "nonfinite_loss",
             "backward": "nonfinite_gradient"}
NONFINITE_KINDS = {"nonfinite_input", "nonfinite_loss", "nonfinite_gradient", "nonfinite_activation",
                   "division_by_zero", "log_of_nonpositive", "nonfinite_values", "missing_values"}
ORIGIN_KIND = "nonfinite_origin"


@dataclasses.dataclass
class Result:
    """How tb_lossdiag did on one scenario."""

    name: str
    doc: str
    expect: List[str]
    onset: Optional[int]
    found: List[str]  # expected kinds raised as a warning or error
    missed: List[str]
    false_alarms: Dict[str, str]  # unexpected warning/error kind -> its first message
    steps_to_detect: Dict[str, int]  # expected kind -> first event step minus ONSET
    visible: Dict[str, int]  # curve kind -> the step the reference first sees it in the loss curves
    steps_from_visible: Dict[str, int]  # expected, detected and visible curve kind -> event step minus that
    seconds: float
    failure: Optional[str] = None  # the script's traceback when it crashed
    set: str = "zoo"
    roots: List[str] = dataclasses.field(default_factory=list)  # kinds right as the root cause (`# root:`)
    diagnosed: Optional[str] = None  # the root kind of the run's first diagnosis; NOT_AVAILABLE without the module

    @property
    def healthy(self) -> bool:
        return not self.expect

    @property
    def late(self) -> List[str]:
        """Expected curve kinds reported more than VISIBLE_WITHIN steps after they became visible."""
        return sorted(k for k, d in self.steps_from_visible.items() if d > VISIBLE_WITHIN)

    @property
    def ok(self) -> bool:
        flagged = self.healthy and bool(self.false_alarms)
        return self.failure is None and not self.missed and not self.late and not flagged

    @property
    def root_correct(self) -> Optional[bool]:
        """Whether the first diagnosis names a right root cause; None for healthy runs or without diagnosis."""
        if self.healthy or self.diagnosed == NOT_AVAILABLE:
            return None
        return self.diagnosed in self.roots


def names(which: str = "zoo") -> List[str]:
    """Every scenario of set `which` ("zoo" or "realworld"), sorted."""
    return sorted(p.stem for p in (HERE / which).glob("*.py") if not p.stem.startswith("_"))


def load(name: str, which: str = "zoo"):
    """The script `name` of set `which` as a module."""
    return importlib.import_module(f"{PACKAGE}{which}.{name}")


def roots(module) -> List[str]:
    """The kinds a script's `# root:` header lines name (none for a healthy script)."""
    text = pathlib.Path(module.__file__).read_text()
    return sorted({kind for line in ROOT_LINE.findall(text) for kind in re.split(r"[\s,]+", line) if kind})


def first_diagnosis(events) -> Optional[str]:
    """The root kind of the first diagnosis of `events` (a NaN's birthplace as the kind reporting NaN
    there), None when there is none, NOT_AVAILABLE without the module."""
    try:  # imported here: the diagnosis module is newer than this benchmark
        from tb_lossdiag.diagnosis import diagnose
    except ImportError:
        return NOT_AVAILABLE
    diagnoses = diagnose(sorted(events, key=lambda e: e.step))
    if not diagnoses:
        return None
    root = diagnoses[0].root
    if root.kind == ORIGIN_KIND:
        return next((kind for place, kind in ORIGIN_AS.items() if place in root.evidence), root.kind)
    return root.kind


def run_scenario(name: str, logdir: str, which: str = "zoo") -> tuple:
    """Train scenario `name` of set `which` into `logdir`; (seconds, traceback or None). Never raises."""
    start = time.perf_counter()
    try:
        load(name, which).run(logdir)
    except Exception:  # a crashing script is a result to report, not a reason to stop the run
        return time.perf_counter() - start, traceback.format_exc()
    return time.perf_counter() - start, None


def score(name: str, logdir: str, seconds: float, failure: Optional[str] = None, which: str = "zoo") -> Result:
    """Compare the events written under `logdir` with what scenario `name` of set `which` declares."""
    module = load(name, which)
    expect, allow = set(module.EXPECT), set(getattr(module, "ALLOW", ()))
    if (expect | allow) & NONFINITE_KINDS:
        allow.add(ORIGIN_KIND)  # where an expected or allowed NaN was born: a detail of it, not another finding
    first = {}  # kind -> its first warning/error event
    visible = {}  # curve kind -> the first step the reference sees it, in any run
    runs = []
    if pathlib.Path(logdir).is_dir():
        runs = read_logdir(logdir, loss_tags=matcher(DEFAULT_LOSS_RULE, "loss_tags"))
    elif failure is None:  # a script that timed out or died before its writer opened: a failure to report
        failure = f"wrote nothing: no log directory {logdir}"
    for run in runs:
        for event in run.events:
            if event.severity in FLAGGED and (event.kind not in first or event.step < first[event.kind].step):
                first[event.kind] = event
        curves = {tag: [(step, value) for step, value, _ in points] for tag, points in run.curves.items()}
        for kind, step in visibility.visible(curves).items():
            visible[kind] = min(step, visible.get(kind, step))
    detected = expect & set(first)
    return Result(
        name=name,
        doc=(module.__doc__ or "").strip(),
        expect=sorted(expect),
        onset=module.ONSET,
        found=sorted(detected),
        missed=sorted(expect - set(first)),
        false_alarms={k: first[k].message for k in sorted(set(first) - expect - allow)},
        steps_to_detect={k: first[k].step - module.ONSET for k in sorted(detected)},
        visible=dict(sorted(visible.items())),
        steps_from_visible={k: first[k].step - visible[k] for k in sorted(detected & set(visible))},
        seconds=round(seconds, 2),
        failure=failure,
        set=which,
        roots=roots(module),
        diagnosed=first_diagnosis([event for run in runs for event in run.events]),
    )


def evaluate(name: str, logdir: str, which: str = "zoo") -> Result:
    """Run scenario `name` of set `which` into `logdir` and score it (in this process: what the tests use)."""
    seconds, failure = run_scenario(name, logdir, which)
    return score(name, logdir, seconds, failure, which)


def _quiet_worker():
    # Two scenarios share two cores: one thread each keeps them from fighting.
    torch.set_num_threads(1)


def evaluate_all(selected: List[tuple], workers: int = 2) -> List[Result]:
    """Run `selected` (set, name) scenarios, `workers` at a time, each in a fresh process forked from this one."""
    with tempfile.TemporaryDirectory(prefix="zoo-") as root:
        logdirs = {key: str(pathlib.Path(root, *key)) for key in selected}
        # fork: torch and tb_lossdiag are imported once here, not once per scenario (~2 s each).
        context = multiprocessing.get_context("fork")
        outcomes = _run_in_pool(context, selected, logdirs, workers)
        # A shared machine can stall a script far past its usual seconds: the ones that timed out
        # run once more, alone, into a fresh log directory; a script that hangs times out again.
        again = [name for name, (_, failure) in outcomes.items() if failure and failure.startswith("timed out")]
        for name in again:
            logdirs[name] += "-again"
            outcomes.update(_run_in_pool(context, [name], logdirs, 1))
        return [score(key[1], logdirs[key], *outcomes[key], which=key[0]) for key in selected]


def _run_in_pool(context, keys: List[tuple], logdirs: dict, workers: int) -> dict:
    """(set, name) -> (seconds, failure or None) of each scenario, run `workers` at a time."""
    outcomes = {}
    with context.Pool(workers, initializer=_quiet_worker, maxtasksperchild=1) as pool:
        pending = {key: pool.apply_async(run_scenario, (key[1], logdirs[key], key[0])) for key in keys}
        for name, job in pending.items():
            try:
                outcomes[name] = job.get(TIMEOUT_S)
            except multiprocessing.TimeoutError:
                outcomes[name] = (TIMEOUT_S, f"timed out after {TIMEOUT_S} s")
    return outcomes


def totals(results: List[Result]) -> dict:
    """A set's numbers, and per kind: scenarios expecting it, detected, steps to detect, false alarms."""
    expected = sum(len(r.expect) for r in results)
    judged = [r.root_correct for r in results if r.root_correct is not None]
    diagnosis_missing = any(r.diagnosed == NOT_AVAILABLE for r in results)
    found = sum(len(r.found) for r in results)
    delays = [d for r in results for d in r.steps_to_detect.values()]
    kinds = {}
    for r in results:
        for kind in r.expect:
            entry = kinds.setdefault(kind, _kind_entry())
            entry["scenarios"] += 1
            if kind in r.steps_to_detect:
                entry["detected"] += 1
                entry["steps"].append(r.steps_to_detect[kind])
            if kind in r.steps_from_visible:
                entry["from_visible"].append(r.steps_from_visible[kind])
        for kind in r.false_alarms:
            kinds.setdefault(kind, _kind_entry())["false_alarms"] += 1
    for entry in kinds.values():
        steps, from_visible = entry.pop("steps"), entry.pop("from_visible")
        entry["median_steps"] = statistics.median(steps) if steps else None
        entry["median_from_visible"] = statistics.median(from_visible) if from_visible else None
        entry["max_from_visible"] = max(from_visible) if from_visible else None
    return {
        "scenarios": len(results),
        "healthy": sum(r.healthy for r in results),
        "recall": found / expected if expected else 1.0,
        "expected_kinds": expected,
        "found_kinds": found,
        "false_alarms": sum(len(r.false_alarms) for r in results),
        "false_alarm_kinds": sorted({kind for r in results for kind in r.false_alarms}),
        "healthy_flagged": sum(r.healthy and bool(r.false_alarms) for r in results),
        "late": sum(len(r.late) for r in results),
        # A check on the reference itself: it should see no curve condition in a healthy run.
        "healthy_visible": sum(r.healthy and bool(r.visible) for r in results),
        "failed": sum(r.failure is not None for r in results),
        # Root cause: the first diagnosis names a kind of the script's `# root:` line.
        "root_accuracy": None if diagnosis_missing or not judged else sum(judged) / len(judged),
        "root_correct": sum(judged),
        "root_judged": len(judged),
        "healthy_diagnosed": None if diagnosis_missing else sum(r.healthy and r.diagnosed is not None for r in results),
        "median_steps_to_detect": statistics.median(delays) if delays else None,
        "seconds": round(sum(r.seconds for r in results), 1),
        "kinds": dict(sorted(kinds.items())),
    }


def _kind_entry() -> dict:
    """The per-kind tallies before any scenario is counted."""
    return {"scenarios": 0, "detected": 0, "steps": [], "from_visible": [], "false_alarms": 0}


def report(results: List[Result], summary: dict) -> str:
    """The plain-text report: one block per scenario, then the totals."""
    lines = []
    for r in results:
        state = "ok  " if r.ok else "FAIL"
        what = "healthy" if r.healthy else f"recall {len(r.found)}/{len(r.expect)}"
        lines.append(f"{state} {r.name:<34} {what:<12} {r.seconds:5.1f} s  {r.doc}")
        for kind in r.expect:
            delay = r.steps_to_detect.get(kind)
            line = f"       expected {kind:<30} " + ("MISSED" if delay is None else f"after {delay} steps")
            if kind in r.steps_from_visible:
                line += f", {r.steps_from_visible[kind]} after it became visible at step {r.visible[kind]}"
                line += " (LATE)" if kind in r.late else ""
            lines.append(line)
        for kind, message in r.false_alarms.items():
            lines.append(f"       false alarm {kind:<27} {message}")
        if r.diagnosed != NOT_AVAILABLE and (r.roots or r.diagnosed):
            verdict = {True: "right", False: "WRONG", None: "a diagnosis of a healthy run"}[r.root_correct]
            lines.append(f"       first diagnosis {r.diagnosed or 'none'} ({verdict}; root: {', '.join(r.roots)})")
        if r.healthy:
            lines.extend(f"       the reference sees {kind} at step {step}" for kind, step in r.visible.items())
        if r.failure:
            lines.append("       script failed: " + r.failure.strip().splitlines()[-1])
    lines.append("\n" + summary_line(summary))
    return "\n".join(lines)


def _accuracy(s: dict) -> str:
    """The root-cause accuracy of a summary as the report prints it."""
    if s["root_accuracy"] is None:
        return NOT_AVAILABLE
    return f"{s['root_accuracy']:.0%} ({s['root_correct']}/{s['root_judged']})"


def summary_line(s: dict) -> str:
    """A set's totals in one paragraph."""
    diagnosed = NOT_AVAILABLE if s["healthy_diagnosed"] is None else s["healthy_diagnosed"]
    return (
        f"{s['scenarios']} scenarios ({s['healthy']} healthy): recall {s['recall']:.0%} "
        f"({s['found_kinds']}/{s['expected_kinds']} kinds), {s['false_alarms']} false alarms, "
        f"{s['healthy_flagged']} healthy runs flagged, {s['late']} curve conditions reported more than "
        f"{VISIBLE_WITHIN} steps after they became visible, {s['failed']} scripts failed, "
        f"median steps to detect {s['median_steps_to_detect']}, {s['seconds']} s of training; "
        f"the visibility reference sees a curve condition in {s['healthy_visible']} healthy runs; "
        f"false-alarm kinds {s['false_alarm_kinds'] or 'none'}; top-1 root cause {_accuracy(s)}, "
        f"healthy runs with a diagnosis {diagnosed}"
    )


def markdown(summary: dict) -> str:
    """The README's results table: one row per kind, then the totals."""
    rows = [
        "| kind | scenarios | detected | median steps from onset | steps from visible (median / max) "
        "| false alarms |",
        "|---|---|---|---|---|---|",
    ]
    for kind, k in summary["kinds"].items():
        visible = "–"
        if k["median_from_visible"] is not None:
            visible = f"{k['median_from_visible']:g} / {k['max_from_visible']}"
        rows.append(
            f"| `{kind}` | {k['scenarios']} | {k['detected']} | {_number(k['median_steps'])} | {visible} "
            f"| {k['false_alarms']} |"
        )
    s = summary
    rows.append(
        f"| **all** ({s['scenarios']} scenarios, {s['healthy']} healthy; root cause {_accuracy(s)}) "
        f"| {s['expected_kinds']} | "
        f"{s['found_kinds']} ({s['recall']:.0%}) | {_number(s['median_steps_to_detect'])} | "
        f"{s['late']} later than {VISIBLE_WITHIN} | "
        f"{s['false_alarms']} ({s['healthy_flagged']} healthy runs flagged) |"
    )
    return "\n".join(rows)


def _number(x) -> str:
    """A table cell for a count that may be missing."""
    return "–" if x is None else f"{x:g}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=SETS + ("all",), default="all", help="which scripts to run (default all)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scenarios")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--markdown", action="store_true", help="print the README results table")
    parser.add_argument("--workers", type=int, default=2, help="scenarios run at a time (default 2)")
    args = parser.parse_args(argv)
    which = SETS if args.set == "all" else (args.set,)
    known = [(w, name) for w in which for name in names(w)]
    selected = [key for key in known if not args.only or key[1] in args.only]
    unknown = sorted(set(args.only or ()) - {name for _, name in known})
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {sorted(name for _, name in known)}")
    results = evaluate_all(selected, args.workers)
    summaries = {}
    for w in which:
        part = [r for r in results if r.set == w]
        if part:
            summaries[w] = totals(part)
            print(f"\n== {w} ==\n" + report(part, summaries[w]))
            if args.markdown:
                print("\n" + markdown(summaries[w]))
    print("\n" + "\n".join(f"{w}: {summary_line(s)}" for w, s in summaries.items()))
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(
            {"summary": summaries, "scenarios": [dataclasses.asdict(r) for r in results]}, indent=2))
    gate = [r for r in results if r.set == "zoo"]  # the real-world set reports; only the zoo fails the build
    passed = sum(r.ok for r in gate)
    print(f"{passed} passed, {len(gate) - passed} failed")  # the closing line CI reads (the zoo)
    return 0 if passed == len(gate) else 1


if __name__ == "__main__":
    sys.exit(main())
