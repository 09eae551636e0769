"""The Loss Diagnostics plugin: thin `*_route` wrappers over pure `*_impl` functions."""

import json
import logging
import math
import pathlib
import threading
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.data import provider
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tb_lossdiag import metadata, reader
from tb_lossdiag.detectors import BUILTIN
from tb_lossdiag.diagnosis import diagnose
from tb_lossdiag.events import SEVERITIES, Event, ended, first_error
from tb_lossdiag.plugin.records import read_record

logger = logging.getLogger(__name__)

STATIC_DIR = pathlib.Path(__file__).parent / "static"
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".map": "application/json"}

# The data provider returns nothing for downsample=0; this bound is far above any real number of
# records per tag, so every event batch is returned (each record is one batch: no event is dropped).
EVENTS_DOWNSAMPLE = 10**9
# Points per curve for drawing: TensorBoard downsamples (keeping the last point); events are never
# downsampled, markers are placed from them.
CURVE_POINTS = 2000
# Statistics the writer logs beside the losses (gradient norms, update ratios, ...).
STATS_PREFIX = "diag/"
SCALARS_PLUGIN = "scalars"


DIAGNOSIS_FAILED = "the diagnosis of this run failed (a bug in tb_lossdiag): its events are shown as they are"


def is_loss_tag(tag: str) -> bool:
    """A loss curve: a scalar tag containing "loss" (any case) that is not a diag/ statistic."""
    return "loss" in tag.lower() and not tag.startswith(STATS_PREFIX)


def loss_tags_of(recorded: Iterable[str], scalar_tags: Iterable[str]) -> List[str]:
    """The run's loss curves, sorted: the tags its writer diagnosed as losses; for runs whose records
    name none (older writers, plain SummaryWriter runs), the scalar tags `is_loss_tag` accepts."""
    scalar_tags = set(scalar_tags)
    recorded = [t for t in recorded if t in scalar_tags]
    return sorted(recorded) if recorded else sorted(t for t in scalar_tags if is_loss_tag(t))


def _request_scope(request):
    """The request context and experiment id every data provider call needs."""
    return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)


def _json(request, payload, code=200):
    # Serialized here: Respond's generic cleansing of a dict walks every value (~0.4 s for 10,000
    # events); our payloads hold no NaN (evidence and curves encode it), so plain dumps is exact.
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return http_util.Respond(request, body, "application/json", code=code)


class _RunState:
    """One run's events as last read, and the listing (tags, last steps and times) they came from."""

    def __init__(self, version, records: Dict[tuple, metadata.Record]):
        self.version = version
        self.records = records
        self.events: List[Event] = sorted(
            (e for r in records.values() for e in r.events), key=lambda e: (e.step, e.wall_time)
        )
        self.notices = metadata.count_notices(r.notices for r in records.values())
        self.loss_tags = list(dict.fromkeys(t for r in records.values() for t in r.loss_tags))
        self.dicts = [e.to_dict() for e in self.events]
        self._analysis: Optional[dict] = None
        self._lock = threading.Lock()

    def analysis(self) -> dict:
        """{"diagnosis": [...], "ended": [[i, j]...], "notices": [...]}: computed on first use, then kept."""
        with self._lock:  # two requests for one new run: diagnosed once
            if self._analysis is None:
                self._analysis = self._analyse()
            return self._analysis

    def _analyse(self) -> dict:
        index = {id(e): i for i, e in enumerate(self.events)}  # diagnose returns the events it was given
        try:
            diagnosis = [
                {**d.to_dict(), "root_index": index[id(d.root)],
                 "consequence_indices": [index[id(e)] for e in d.consequences]}
                for d in diagnose(self.events)
            ]
            by = ended(self.events)
            ended_pairs = [[i, index[id(by[id(e)])]] for i, e in enumerate(self.events) if id(e) in by]
        except Exception:  # a bug in the diagnosis must not hide the events the user came for
            logger.exception("tb_lossdiag: diagnosing a run failed")
            return {"diagnosis": [], "ended": [], "notices": [*self.notices, DIAGNOSIS_FAILED]}
        return {"diagnosis": diagnosis, "ended": ended_pairs, "notices": self.notices}


class EventCache:
    """Each run's events, re-read only when TensorBoard's listing of its records changes."""

    def __init__(self):
        self._runs: Dict[str, _RunState] = {}
        self._lock = threading.Lock()  # TensorBoard answers requests on many threads at once

    def read(self, data_provider, ctx, experiment, runs: Optional[Iterable[str]] = None) -> Dict[str, _RunState]:
        """{run: its state (events sorted by step, notices, JSON dicts)} for `runs` (all when None)."""
        run_filter = provider.RunTagFilter(runs=list(runs)) if runs is not None else None
        listing = data_provider.list_tensors(
            ctx, experiment_id=experiment, plugin_name=metadata.PLUGIN_NAME, run_tag_filter=run_filter
        )
        versions = {
            run: tuple(sorted((tag, ts.max_step, ts.max_wall_time) for tag, ts in tags.items()))
            for run, tags in listing.items()
        }
        # Answered from this snapshot: another request pruning or rereading meanwhile cannot take
        # a run away from this one.
        states = dict(self._runs)
        stale = [run for run, version in versions.items() if states.get(run, _NO_STATE).version != version]
        if stale:
            states.update(self._reread(data_provider, ctx, experiment, stale, versions, states))
        with self._lock:
            self._runs.update({run: states[run] for run in stale})
            if runs is None:  # a full listing: forget runs TensorBoard no longer has
                self._runs = {run: state for run, state in self._runs.items() if run in versions}
        return {run: states[run] for run in versions}

    def _reread(self, data_provider, ctx, experiment, runs: List[str], versions, known_states) -> Dict[str, _RunState]:
        data = data_provider.read_tensors(
            ctx,
            experiment_id=experiment,
            plugin_name=metadata.PLUGIN_NAME,
            downsample=EVENTS_DOWNSAMPLE,
            run_tag_filter=provider.RunTagFilter(runs=runs),
        )
        fresh = {}
        for run in runs:
            known = known_states.get(run, _NO_STATE).records
            records = {}
            for tag, datums in data.get(run, {}).items():
                for datum in datums:
                    # A restarted writer writes under a new tag: (tag, step, time) names one record.
                    key = (tag, datum.step, datum.wall_time)
                    records[key] = known.get(key) or read_record(datum.numpy)
            fresh[run] = _RunState(versions[run], records)
        return fresh


_NO_STATE = _RunState(None, {})


def stat_tags_of(tags: Iterable[str], leads_job: bool) -> List[str]:
    """The statistics a run's card offers: its diag/ tags but the ranks' shard records; on the
    first run of a sharded job (rank 0's), the job's global norms combined from every rank."""
    stats = [t for t in sorted(tags) if t.startswith(STATS_PREFIX) and not t.startswith(reader.SHARD_PREFIX)]
    return stats + [reader.JOB_PREFIX + name for name in reader.JOB_NAMES] if leads_job else stats


def sharded_jobs(scalars: Mapping[str, Iterable[str]]) -> Dict[str, List[str]]:
    """job (reader.job_of) -> its runs with shard records, sorted: rank 0's (the job's own) first."""
    jobs: Dict[str, List[str]] = {}
    for run in sorted(scalars):
        if _SHARD_TAGS[0] in scalars[run]:
            jobs.setdefault(reader.job_of(run), []).append(run)
    return jobs


_SHARD_TAGS = [reader.SHARD_PREFIX + name for name in reader.SHARD_NAMES]  # the first one marks a sharded run


def runs_impl(data_provider, ctx, experiment, cache: EventCache) -> dict:
    """The run overview: each run's health, counts by severity, first error and curve tags."""
    scalars = data_provider.list_scalars(ctx, experiment_id=experiment, plugin_name=SCALARS_PLUGIN)
    states = cache.read(data_provider, ctx, experiment)
    leads = {ranks[0] for ranks in sharded_jobs(scalars).values()}
    runs = []
    for run in sorted(set(scalars) | set(states)):
        tags = sorted(scalars.get(run, {}))
        state = states.get(run, _NO_STATE)
        loss_tags = loss_tags_of(state.loss_tags, tags)
        diagnosed = run in states
        if not loss_tags and not diagnosed:
            continue  # nothing of ours to show: no loss curve, no diagnosis
        events = state.events
        counts = {s: 0 for s in SEVERITIES}
        for event in events:
            counts[event.severity] += 1
        error = first_error(events)
        runs.append(
            {
                "run": run,
                "diagnosed": diagnosed,
                "counts": counts,
                "first_error": _brief(error),
                "first_event": _brief(events[0] if events else None),
                "kinds": sorted({e.kind for e in events}),
                "loss_tags": loss_tags,
                "stat_tags": stat_tags_of(tags, run in leads),
                "last_step": max((s.max_step for s in scalars.get(run, {}).values()), default=None),
                "notices": state.notices,
            }
        )
    return {
        "runs": runs,
        "detectors": [cls.id for cls in BUILTIN],
        "schema_version": metadata.SCHEMA_VERSION,
    }


def _brief(event: Optional[Event]) -> Optional[dict]:
    if event is None:
        return None
    return {"step": event.step, "kind": event.kind, "severity": event.severity, "tag": event.tag, "category": event.category}


def events_impl(data_provider, ctx, experiment, run: str, cache: EventCache) -> dict:
    """Every event of `run`, sorted by step, its diagnosis (indices into the events), the conditions
    that ended, and the notices about records that could not be read."""
    state = cache.read(data_provider, ctx, experiment, [run]).get(run, _NO_STATE)
    analysis = state.analysis()
    return {"run": run, "events": state.dicts, "diagnosis": analysis["diagnosis"], "ended": analysis["ended"],
            "notices": analysis["notices"]}


def curves_impl(data_provider, ctx, experiment, run: str, tags: List[str], cache: EventCache) -> dict:
    """Downsampled curves of `run`: the given scalar tags (a sharded job's diag/job/ norms combined
    from its ranks' runs), or all its loss tags when none are given."""
    if not tags:
        listed = data_provider.list_scalars(
            ctx, experiment_id=experiment, plugin_name=SCALARS_PLUGIN,
            run_tag_filter=provider.RunTagFilter(runs=[run]),
        )
        state = cache.read(data_provider, ctx, experiment, [run]).get(run, _NO_STATE)
        tags = loss_tags_of(state.loss_tags, listed.get(run, {}))
    data: Dict[str, List[Tuple[int, float]]] = {}
    own = [t for t in tags if not t.startswith(reader.JOB_PREFIX)]
    if own:
        read = data_provider.read_scalars(
            ctx, experiment_id=experiment, plugin_name=SCALARS_PLUGIN, downsample=CURVE_POINTS,
            run_tag_filter=provider.RunTagFilter(runs=[run], tags=own),
        ).get(run, {})
        data = {tag: [(p.step, p.value) for p in points] for tag, points in read.items()}
    if len(own) < len(tags):
        data.update(_job_norms(data_provider, ctx, experiment, run))
    curves = []
    for tag in tags:
        # A run restarted into the same directory can repeat steps: draw in step order.
        points = sorted(data.get(tag, []), key=lambda p: p[0])
        curves.append(
            {
                "tag": tag,
                "steps": [step for step, _ in points],
                # JSON has no NaN: non-finite values are the strings "nan", "inf", "-inf", as evidence is.
                "values": [value if math.isfinite(value) else str(value) for _, value in points],
            }
        )
    return {"run": run, "curves": curves}


def _job_norms(data_provider, ctx, experiment, run: str) -> Dict[str, List[Tuple[int, float]]]:
    """The global norms of `run`'s sharded job, combined from its ranks' shard records (reader.combine)."""
    listed = data_provider.list_scalars(ctx, experiment_id=experiment, plugin_name=SCALARS_PLUGIN)
    ranks = sharded_jobs(listed).get(reader.job_of(run), [run])
    # Rank runs that recorded the same steps keep the same ones when downsampled (TensorBoard's
    # sampling is seeded): combine() uses the steps every rank kept.
    data = data_provider.read_scalars(
        ctx, experiment_id=experiment, plugin_name=SCALARS_PLUGIN, downsample=CURVE_POINTS,
        run_tag_filter=provider.RunTagFilter(runs=ranks, tags=_SHARD_TAGS),
    )
    shards = [{tag[len(reader.SHARD_PREFIX):]: [(p.step, p.value) for p in points]
               for tag, points in data.get(r, {}).items()} for r in ranks]
    return reader.combine(shards)


def static_file(name: str) -> Optional[pathlib.Path]:
    """The bundle file called `name`, or None: only names listed in static/ are served."""
    # Compared against the directory listing, never joined into a path: "../x", "%2e%2e/x" or an
    # absolute path cannot escape.
    files: Dict[str, pathlib.Path] = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
    return files.get(name) if pathlib.Path(name).suffix in _STATIC_TYPES else None


class LossDiagPlugin(base_plugin.TBPlugin):
    """Serves the Loss Diagnostics tab."""

    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._provider = context.data_provider
        self._cache = EventCache()

    def get_plugin_apps(self):
        """The routes, under /data/plugin/lossdiag."""
        # Wrapped here, as bound methods: werkzeug's decorator is typed for plain functions.
        app = wrappers.Request.application
        return {
            "/static/*": app(self.static_route),
            "/runs": app(self.runs_route),
            "/events": app(self.events_route),
            "/curves": app(self.curves_route),
        }

    def is_active(self):
        """Active only through data: lossdiag records, or scalars whose loss curves it can show."""
        return False

    def data_plugin_names(self):
        """Runs with lossdiag records, and plain SummaryWriter runs (shown as not diagnosed)."""
        return (metadata.PLUGIN_NAME, SCALARS_PLUGIN)

    def frontend_metadata(self):
        """An iframed ES module under the tab name "Loss Diagnostics"."""
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name=metadata.TAB_NAME)

    def static_route(self, request):
        """A file of the built frontend bundle."""
        name = request.path.rsplit("/static/", 1)[-1]
        path = static_file(name)
        if path is None:
            return http_util.Respond(request, "Not found", "text/plain", code=404)
        return http_util.Respond(request, path.read_bytes(), _STATIC_TYPES[path.suffix])

    def runs_route(self, request):
        """GET /runs: the run overview."""
        ctx, experiment = _request_scope(request)
        return _json(request, runs_impl(self._provider, ctx, experiment, self._cache))

    def events_route(self, request):
        """GET /events?run=R: every event of run R."""
        run = request.args.get("run")
        if run is None:
            return _json(request, {"error": "missing query parameter: run"}, code=400)
        ctx, experiment = _request_scope(request)
        return _json(request, events_impl(self._provider, ctx, experiment, run, self._cache))

    def curves_route(self, request):
        """GET /curves?run=R[&tag=T...]: downsampled curves of run R (its loss tags by default)."""
        run = request.args.get("run")
        if run is None:
            return _json(request, {"error": "missing query parameter: run"}, code=400)
        ctx, experiment = _request_scope(request)
        return _json(request, curves_impl(self._provider, ctx, experiment, run, request.args.getlist("tag"), self._cache))
