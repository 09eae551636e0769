"""Log directories written by DiagWriter, and a real `tensorboard` process serving them."""

import contextlib
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Callable, Iterable, Mapping, Optional, Sequence

import torch
from torch.utils.tensorboard import SummaryWriter

from google.protobuf.internal.encoder import _VarintBytes
from tensorboard.compat.proto import summary_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

from tb_lossdiag import DiagWriter, Event, metadata, reader, summary

NAN_STEP = 37
NAN_COLUMN = 2


def event(step, kind="spike", severity="warning", tag="loss/train", message=None, hint="lower the learning rate", **evidence):
    """An Event with readable defaults."""
    return Event(
        step=step, kind=kind, severity=severity, tag=tag,
        message=message or f"{kind} at step {step}", hint=hint, evidence=evidence,
    )


def _train(writer, steps: int, softmax_output: bool = False, nan_at: Optional[int] = None, watch: bool = False) -> None:
    """Trains a tiny classifier on separable data, logging its loss tensors to `writer`; `watch`:
    with DiagWriter.watch. A DiagWriter logs diag/ statistics (without watch(), its swap-only
    probes' gradient ones); a plain SummaryWriter gets a gradient norm logged here."""
    torch.manual_seed(0)
    x = torch.randn(512, 8)
    y = (x[:, 0] + x[:, 1] > 0).long()
    layers = [torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2)]
    model = torch.nn.Sequential(*layers, *([torch.nn.Softmax(dim=1)] if softmax_output else []))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    if watch:
        writer.watch(model, optimizer)
    for step in range(steps):
        batch = torch.arange(step * 32, step * 32 + 32) % 400
        inputs = x[batch].clone()
        if step == nan_at:
            inputs[3, NAN_COLUMN] = float("nan")  # one missing value in the data: the classic cause
        out = model(inputs)
        loss = torch.nn.functional.nll_loss(out, y[batch]) if softmax_output else torch.nn.functional.cross_entropy(out, y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
        if step % 10 == 0:
            with torch.no_grad():
                val = model(x[400:])
                val_loss = torch.nn.functional.nll_loss(val, y[400:]) if softmax_output else torch.nn.functional.cross_entropy(val, y[400:])
            writer.add_scalar("loss/val", val_loss, step)
            if not isinstance(writer, DiagWriter):
                writer.add_scalar("diag/grad_norm", torch.nn.utils.get_total_norm([p.grad for p in model.parameters()]), step)


def write_gallery(logdir: str, steps: int = 160) -> None:
    """Four runs of a tiny real model: healthy and NaN in the data (column NAN_COLUMN at NAN_STEP),
    both watched; nll_loss on softmax output (writer swapped only); a plain SummaryWriter run."""
    with contextlib.closing(DiagWriter(os.path.join(logdir, "healthy"))) as w:
        _train(w, steps, watch=True)
    with contextlib.closing(DiagWriter(os.path.join(logdir, "nan_in_data"))) as w:
        _train(w, steps, nan_at=NAN_STEP, watch=True)
    with contextlib.closing(DiagWriter(os.path.join(logdir, "nll_on_softmax"))) as w:
        _train(w, steps, softmax_output=True)
    with contextlib.closing(SummaryWriter(os.path.join(logdir, "plain_summarywriter"))) as w:
        _train(w, steps)


def write_events(logdir: str, run: str, batches: Iterable[Sequence[Event]], losses: Mapping[str, Sequence[float]] = None) -> None:
    """A DiagWriter run whose records are the given event batches (one record each), plus losses."""
    with contextlib.closing(DiagWriter(os.path.join(logdir, run), detectors=[], flush_secs=3600, max_queue=1000)) as w:
        for tag, values in (losses or {}).items():
            for s, v in enumerate(values):
                w.add_scalar(tag, v, s)
        for batch in batches:
            w.record(batch)


def write_records(logdir: str, run: str, blobs: Iterable[bytes], losses: Sequence[float] = (1.0,)) -> None:
    """A run whose lossdiag records hold the given bytes, as they are (one record each), plus a loss."""
    with contextlib.closing(SummaryWriter(os.path.join(logdir, run))) as w:
        for step, blob in enumerate(blobs):
            record = summary.events_summary(metadata.TAG_PREFIX + "hostile", [])
            record.value[0].tensor.string_val[0] = blob
            w._get_file_writer().add_summary(record, step, 1.7e9 + step)
        for step, value in enumerate(losses):
            w.add_scalar("loss", value, step)


def write_sharded_job(logdir: str, ranks: Mapping[str, Mapping[int, Mapping[str, float]]]) -> None:
    """Runs as a sharded model's ranks write them under watch(): run -> step -> reader.SHARD_NAMES
    name -> value, each step's values in one summary beside a diag/grad_norm (the rank's shard's),
    plus a loss."""
    for run, steps in ranks.items():
        with contextlib.closing(SummaryWriter(os.path.join(logdir, run))) as w:
            for step, parts in steps.items():
                values = [summary_pb2.Summary.Value(tag="diag/grad_norm", simple_value=parts.get("grad_norm", 0.0))]
                values += [summary_pb2.Summary.Value(tag=reader.SHARD_PREFIX + name, simple_value=value)
                           for name, value in parts.items()]
                w._get_file_writer().add_summary(summary_pb2.Summary(value=values), step, 1.7e9 + step)
                w.add_scalar("loss/train", 1.0, step)


def shard(grad: float, weight: float = 1.0, update: float = 0.0, updated_weight: float = 0.0, ranks: int = 2) -> dict:
    """One rank's shard record of a step."""
    return {"grad_norm": grad, "weight_norm": weight, "update_norm": update, "updated_weight_norm": updated_weight,
            "ranks": ranks}


def batch_bytes(event_protos: Iterable[bytes], schema_version: int = metadata.SCHEMA_VERSION) -> bytes:
    """An EventBatch assembled from serialized events: their bytes may be anything protobuf would
    not write (invalid UTF-8, fields of a future schema)."""
    # Wire format: field 1 (schema_version) is a varint, field 2 (events) length-delimited.
    head = b"\x08" + _VarintBytes(schema_version) if schema_version else b""
    return head + b"".join(b"\x12" + _VarintBytes(len(e)) + e for e in event_protos)


def tf_record(data: bytes) -> bytes:
    """`data` framed as one TFRecord (length, its CRC, data, its CRC): how event files store events."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str, timeout: float = 10.0):
    """The JSON answer of a GET request."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.load(response)


class TensorBoard:
    """A `tensorboard` process on 127.0.0.1 serving `logdir`; stop() always kills it."""

    def __init__(self, logdir: str, load_fast: str = "false", extra: Sequence[str] = ()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(os.path.dirname(os.path.abspath(logdir)), f"tensorboard-{self.port}.log")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--host", "127.0.0.1",
                "--port", str(self.port), f"--load_fast={load_fast}", "--reload_interval", "1", *extra,
            ],
            stdout=self._log, stderr=subprocess.STDOUT,
        )

    def api(self, route: str):
        """The JSON of one of the plugin's routes, e.g. "runs" or "events?run=x"."""
        return get_json(f"{self.url}/data/plugin/{metadata.PLUGIN_NAME}/{route}")

    def wait_until(self, ready: Callable[["TensorBoard"], bool], timeout: float = 60.0) -> None:
        """Polls `ready(self)` until true; fails with the server's log after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                if ready(self):
                    return
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                pass  # not listening yet, or still loading
            time.sleep(0.25)
        self.stop()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            raise AssertionError(f"tensorboard was not ready in {timeout:.0f}s; its log:\n{f.read()[-4000:]}")

    def stop(self) -> None:
        """Kills the process (it is ours) and closes its log."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()


@contextlib.contextmanager
def serve(logdir: str, load_fast: str = "false", ready: Optional[Callable[[TensorBoard], bool]] = None, extra: Sequence[str] = ()):
    """A TensorBoard serving `logdir`, ready when `ready` says so (default: the plugin answers)."""
    tb = TensorBoard(logdir, load_fast, extra)
    try:
        tb.wait_until(ready or (lambda t: t.api("runs")["runs"] is not None))
        yield tb
    finally:
        tb.stop()
