"""Reliability: odd models, torch.compile, hook removal, no growth, bad arguments, a failing disk."""

import copy
import gc
import io
import math
import pickle
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tb_lossdiag import DiagWriter, read_logdir
from tb_lossdiag.metadata import PLUGIN_NAME


def _batches(n, features=4, rows=16, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(rows, features, generator=generator), torch.randn(rows, 1, generator=generator))
            for _ in range(n)]


def _train(writer, model, optimizer, data, forward=None, first=0):
    forward = forward or (lambda model, x: model(x))
    for step, (x, y) in enumerate(data, start=first):
        optimizer.zero_grad()
        loss = F.mse_loss(forward(model, x), y)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)


def _alarms(writer):
    """Every event a user would take for a problem: warnings, errors and diagnostic failures."""
    return [(e.step, e.kind, e.severity, e.message) for e in writer.events
            if e.severity in ("warning", "error") or e.kind == "diagnostic_failure"]


def _assert_no_hooks(model, optimizer):
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
        assert not module._backward_hooks and not module._backward_pre_hooks
    assert all(not p._backward_hooks for p in model.parameters())
    assert not optimizer._optimizer_step_pre_hooks and not optimizer._optimizer_step_post_hooks


# -- 1. odd models -----------------------------------------------------------------------------

class _Shared(nn.Module):
    """The same Linear applied twice per step."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(4, 4)
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(torch.tanh(self.inner(torch.tanh(self.inner(x)))))


class _DictOut(nn.Module):
    """A forward returning a dict; a submodule returning None on the way."""

    class _Nothing(nn.Module):
        def forward(self, x):
            return None

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 8)
        self.nothing = self._Nothing()
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        self.nothing(x)
        hidden = torch.relu(self.body(x))
        return {"out": self.head(hidden), "hidden": hidden, "note": None}


class _Recurrent(nn.Module):
    """An nn.LSTM returning (output, (h, c))."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 8, batch_first=True)
        self.head = nn.Linear(8, 1)

    def forward(self, x):
        output, (h, c) = self.lstm(x.reshape(x.shape[0], 2, 2).repeat(1, 1, 2))
        return self.head(output[:, -1])


class _Tied(nn.Module):
    """One weight used by two modules (tied encoder/decoder)."""

    def __init__(self):
        super().__init__()
        self.encode = nn.Linear(4, 4)
        self.decode = nn.Linear(4, 4)
        self.decode.weight = self.encode.weight
        self.head = nn.Linear(4, 1)

    def forward(self, x):
        return self.head(torch.tanh(self.decode(torch.tanh(self.encode(x)))))


@pytest.mark.parametrize("make, forward", [
    (_Shared, None),
    (_DictOut, lambda model, x: model(x)["out"]),
    (_Recurrent, None),
    (_Tied, None),
], ids=["weight_sharing", "dict_and_none_outputs", "lstm_tuple_outputs", "tied_weights"])
def test_odd_models_train_without_alarms(logdir, make, forward):
    """Weight sharing, dict/None/tuple outputs and tied weights train with no warning, error or failure."""
    torch.manual_seed(0)
    model = make()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, every=2)
    _train(writer, model, optimizer, _batches(12), forward)
    writer.close()
    assert _alarms(writer) == []
    assert any(k.startswith("diag/") for k in _scalar_tags(logdir))


def test_frozen_submodule_left_out_of_the_optimizer_is_only_info(logdir):
    """A frozen sub-block outside the optimizer gives one info frozen_parameters event, nothing more."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 1))
    for p in model[0].parameters():
        p.requires_grad_(False)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.05)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, every=2)
    _train(writer, model, optimizer, _batches(12))
    writer.close()
    assert _alarms(writer) == []
    assert {e.kind for e in writer.events} <= {"frozen_parameters"}
    assert all(e.severity == "info" for e in writer.events)


def test_no_grad_inference_and_nan_validation_between_steps_raise_no_alarm(logdir):
    """no_grad inference and model.eval() passes on NaN inputs between training steps stay silent."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, every=2)
    nan_batch = torch.full((16, 4), math.nan)
    for step, (x, y) in enumerate(_batches(16)):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
        with torch.no_grad():
            model(x)  # inference in training mode, without grad
        model.eval()
        with torch.no_grad():
            model(nan_batch)
        model(nan_batch)  # eval mode with grad enabled: still not a training step
        model.train()
    writer.close()
    assert _alarms(writer) == []


def test_model_converted_to_double_mid_run(logdir):
    """model.double() between steps (what .to(device) does to parameters): training goes on, no alarms."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, every=2)
    x, y = torch.randn(32, 4), torch.randn(32, 1)
    for step in range(12):
        if step == 6:
            model.double()
            x, y = x.double(), y.double()
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
    assert _alarms(writer) == []


# -- 2. torch.compile --------------------------------------------------------------------------

def test_watching_a_compiled_model_works(logdir):
    """watch(torch.compile(model)) trains, measures gradients and inputs under the original names, no alarms."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    try:
        compiled = torch.compile(model)
        compiled(torch.randn(2, 4))
    except Exception as error:  # environment (no compiler, unsupported platform): nothing to test
        pytest.skip(f"torch.compile does not work here: {error}")
    writer = DiagWriter(logdir)
    seen = []
    observe = writer.observe_step
    writer.observe_step = lambda stats: (seen.append(stats), observe(stats))
    handle = writer.watch(compiled, optimizer, every=2)
    _train(writer, compiled, optimizer, _batches(8))
    assert [s.step for s in seen] == [0, 2, 4, 6]
    assert all(math.isfinite(s.grad_norm) and s.grad_norm > 0 for s in seen)
    assert all(s.inputs for s in seen)
    names = [layer.name for s in seen for layer in s.layers]
    assert names and not any("_orig_mod" in name for name in names)
    assert all(not s.activations for s in seen)  # leaf hooks are not re-run inside a compiled graph
    handle.remove()
    writer.close()
    assert _alarms(writer) == []
    _assert_no_hooks(compiled, optimizer)


# -- 3. hooks come off -------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["close", "remove"])
def test_after_removal_the_model_serializes_and_can_be_watched_again(logdir, tmp_path, how):
    """close()/remove() take every hook off; pickle, deepcopy, torch.save work; a new writer re-watches."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    writer = DiagWriter(logdir)
    handle = writer.watch(model, optimizer, every=2)
    _train(writer, model, optimizer, _batches(6))
    if how == "close":
        writer.close()
    else:
        handle.remove()
    _assert_no_hooks(model, optimizer)
    clone = pickle.loads(pickle.dumps(model))
    copy.deepcopy(model)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert torch.equal(loaded[0].weight, model[0].weight) and torch.equal(clone[0].weight, model[0].weight)
    if how == "remove":
        writer.close()
    second = DiagWriter(str(tmp_path / "second"))
    second.watch(model, optimizer, every=2, first_step=6)
    _train(second, model, optimizer, _batches(6, seed=1), first=6)
    second.close()
    assert _alarms(second) == []
    steps = sorted(s for tag, s in _scalar_steps(str(tmp_path / "second")) if tag.startswith("diag/"))
    assert steps and min(steps) >= 6


# -- 4. no growth ------------------------------------------------------------------------------

def test_memory_stays_flat_over_many_steps(logdir):
    """20,000 watched steps: the count of live Python objects does not grow after warm-up."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    writer = DiagWriter(logdir, flush_secs=3600)
    writer.watch(model, optimizer, every=10, layer_table=False)
    x, y = torch.randn(8, 4), torch.randn(8, 1)
    counts = {}
    for step in range(20_000):
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
        if step in (2_000, 19_999):
            writer.flush()
            gc.collect()
            counts[step] = len(gc.get_objects())
    writer.close()
    assert counts[19_999] - counts[2_000] < 500, counts
    assert len(writer.events) < 20


def test_a_persistent_condition_gives_a_handful_of_events(logdir):
    """A loss that stays NaN for 20,000 steps gives at most a handful of events, not one per step."""
    writer = DiagWriter(logdir)
    for step in range(20_000):
        writer.add_scalar("loss/train", math.nan, step)
    writer.close()
    assert 1 <= len(writer.events) <= 5, [(e.step, e.kind) for e in writer.events]


# -- 5. bad arguments --------------------------------------------------------------------------

def test_bad_arguments_name_the_fix_and_lose_nothing_written(logdir):
    """Wrong arguments raise errors naming the fix, and the scalars written before them read back."""
    with pytest.raises(ValueError, match="no_such"):
        DiagWriter(logdir, disable=["no_such"])
    writer = DiagWriter(logdir)
    for step in range(3):
        writer.add_scalar("loss/train", 1.0 / (step + 1), step)
    model = nn.Linear(4, 1)
    with pytest.raises(TypeError, match=r"writer\.watch\(model"):
        writer.watch("model")
    with pytest.raises(ValueError, match=r"every=10"):
        writer.watch(model, every=-1)
    with pytest.raises(ValueError, match=r"\.mean\(\)"):
        writer.add_scalar("loss/train", torch.ones(4), 3)
    writer.add_scalar("loss/train", 0.2, 4)
    writer.close()
    assert dict(_scalar_values(logdir, "loss/train")) == pytest.approx({0: 1.0, 1: 0.5, 2: 1 / 3, 4: 0.2})
    runs = read_logdir(logdir, loss_tags=lambda tag: "loss" in tag)
    assert len(runs) == 1


# -- 6. a failing disk -------------------------------------------------------------------------

def test_a_failing_diagnostics_write_warns_once_and_training_goes_on(logdir, monkeypatch):
    """OSError writing lossdiag records: one RuntimeWarning, training goes on, the user's scalars are written."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, every=2)
    file_writer = writer._get_file_writer()
    add_summary = file_writer.add_summary

    def full_disk(summary, *args, **kwargs):
        if any(v.metadata.plugin_data.plugin_name == PLUGIN_NAME for v in summary.value):
            raise OSError(28, "No space left on device")
        return add_summary(summary, *args, **kwargs)

    monkeypatch.setattr(file_writer, "add_summary", full_disk)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _train(writer, model, optimizer, _batches(10))
        for step in range(10, 20):  # a NaN loss: error events, whose records also fail
            writer.add_scalar("loss/train", math.nan, step)
        writer.close()
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning) and "tb_lossdiag" in str(w.message)]
    assert len(runtime) == 1, [str(w.message) for w in caught]
    assert any(e.severity == "error" for e in writer.events)  # still found, kept in .events
    assert sorted(s for s, _ in _scalar_values(logdir, "loss/train")) == list(range(20))


# -- helpers reading the event file ------------------------------------------------------------

def _scalar_records(logdir):
    import os

    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.util import tensor_util

    for root, _, files in os.walk(logdir):
        for name in sorted(files):
            if "tfevents" not in name:
                continue
            for event in EventFileLoader(os.path.join(root, name)).Load():
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name == "scalars":
                        yield value.tag, event.step, float(tensor_util.make_ndarray(value.tensor))


def _scalar_tags(logdir):
    return {tag for tag, _, _ in _scalar_records(logdir)}


def _scalar_steps(logdir):
    return [(tag, step) for tag, step, _ in _scalar_records(logdir)]


def _scalar_values(logdir, tag):
    return [(step, value) for t, step, value in _scalar_records(logdir) if t == tag]
