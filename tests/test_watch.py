"""writer.watch(): what it records, when, at what step, and that it never gets in the way."""

import copy
import math
import pathlib
import pickle

import pytest
import torch
import torch.nn.functional as F
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from torch import nn

from detectors.scenarios import batches, mlp, problems, train
from tb_lossdiag import DiagWriter
from tb_lossdiag import stats as S


def _spy(writer):
    """The StepStats the writer's detectors receive, in order."""
    seen = []
    observe = writer.observe_step

    def record(stats):
        seen.append(stats)
        observe(stats)

    writer.observe_step = record
    return seen


def _loop(writer, model, optimizer, data, first=0):
    for step, (x, y) in enumerate(data, start=first):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)


def test_bad_arguments_name_the_fix(logdir):
    """A non-module, a non-optimizer, or a non-positive `every` fail before anything is hooked."""
    writer = DiagWriter(logdir)
    model = mlp(4, 2)
    with pytest.raises(TypeError, match="nn.Module"):
        writer.watch("model")
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        writer.watch(model, model.parameters())
    with pytest.raises(ValueError, match="every"):
        writer.watch(model, every=-1)
    with pytest.raises(ValueError, match="first_step"):
        writer.watch(model, first_step=-3)
    assert not model._forward_hooks and not model._forward_pre_hooks
    writer.close()


def test_close_removes_every_hook(logdir):
    """After close() the model and optimizer carry no hook and deep-copy and pickle as before."""
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    _loop(writer, model, optimizer, batches(2, (8, 4), classes=2))
    writer.close()
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
    assert all(not p._backward_hooks for p in model.parameters())
    assert not optimizer._optimizer_step_pre_hooks and not optimizer._optimizer_step_post_hooks
    copy.deepcopy(model)
    pickle.loads(pickle.dumps(model))


def test_statistics_scalars_are_written_under_diag(logdir):
    """A dozen diag/ tags, written on the sampled steps only, next to the user's loss."""
    model = mlp(8, 16, 4)
    train(logdir, model, batches(25, (16, 8), classes=4), F.cross_entropy)
    (path,) = [p for p in pathlib.Path(logdir).iterdir() if "tfevents" in p.name]
    steps = {}
    for event in EventFileLoader(str(path)).Load():
        for value in event.summary.value:
            if value.tag.startswith("diag/"):
                steps.setdefault(value.tag, []).append(event.step)
    for tag in ("diag/grad_norm", "diag/lr", "diag/update_ratio_max", "diag/act_zero_fraction",
                "diag/input_mean", "diag/input_nonfinite"):
        assert steps[tag] == [0, 10, 20], tag
    assert steps["diag/layers/text_summary"] == [0]  # the per-layer table: every 10th sampled step
    assert len(steps) <= 20


def test_step_numbers_follow_optimizer_steps(logdir):
    """Every optimizer step gets the next number from first_step on; every 5th here is sampled,
    and a healthy unsampled step does not reach the detectors at all."""
    model = mlp(8, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    seen = _spy(writer)
    handle = writer.watch(model, optimizer, every=5, first_step=100)
    _loop(writer, model, optimizer, batches(12, (4, 8), classes=4), first=100)
    assert handle.step == 112
    writer.close()
    assert [(s.step, s.sampled) for s in seen] == [(100, True), (105, True), (110, True)]


def test_gradient_accumulation_shares_the_step_number(logdir):
    """Four micro-batches per optimizer step: one StepStats per step, inputs of all four seen."""
    writer = DiagWriter(logdir)
    seen = _spy(writer)
    model = mlp(8, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer.watch(model, optimizer, every=1)
    for i, (x, y) in enumerate(batches(8, (4, 8), classes=4)):
        (F.cross_entropy(model(x), y) / 4).backward()
        if i % 4 == 3:
            optimizer.step()
            optimizer.zero_grad()
    writer.close()
    assert [s.step for s in seen] == [0, 1] and [len(s.inputs) for s in seen] == [4, 4]


def test_statistics_match_an_independent_computation(logdir):
    """Gradient norms, activation moments, update ratios, inputs and lr equal plain torch's."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    seen = _spy(writer)
    writer.watch(model, optimizer)
    x, y = torch.randn(16, 6) * 2 + 1, torch.tensor([0, 1, 2, 0] * 4)
    hidden = model[1](model[0](x)).detach()
    before = model[0].weight.detach().clone()
    w_before = torch.cat([before.flatten(), model[0].bias.detach().flatten()])
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    grads = {n: p.grad.norm().item() for n, p in model.named_parameters()}
    optimizer.step()
    writer.close()
    (stats,) = seen
    assert stats.grad_norms == pytest.approx(grads, rel=1e-5)
    assert stats.grad_norm == pytest.approx(math.sqrt(sum(g * g for g in grads.values())), rel=1e-5)
    relu = next(a for a in stats.activations if a.name == "1")
    assert relu.mean == pytest.approx(hidden.mean().item(), rel=1e-4)
    assert relu.std == pytest.approx(hidden.std(unbiased=False).item(), rel=1e-3)
    assert relu.zero_fraction == pytest.approx((hidden == 0).float().mean().item())
    assert [a.name for a in stats.activations] == ["0", "1", "2"] and stats.activations[-1].is_output
    first = next(layer for layer in stats.layers if layer.name == "0")
    w_delta = torch.cat([(model[0].weight - before).flatten(), -0.1 * model[0].bias.grad.flatten()])
    assert first.weight_norm == pytest.approx(w_before.norm().item(), rel=1e-5)
    assert first.update_ratio == pytest.approx((w_delta.norm() / w_before.norm()).item(), rel=1e-3)
    (inp,) = stats.inputs
    assert inp.name == "input" and inp.mean == pytest.approx(x.mean().item(), rel=1e-4)
    assert inp.rms == pytest.approx(x.pow(2).mean().sqrt().item(), rel=1e-4)
    assert stats.lrs == (0.1,)


def test_large_activations_are_measured_on_a_bounded_slice_that_still_finds_dead_units(logdir):
    """A 64-channel 32x32 conv output is measured on one image (65,536 values), not 16: the
    temporary the statistics make stays small at the step's memory peak. A wide ReLU layer keeps
    the 8 rows a dead-unit call needs, and its dead units are still found."""
    torch.manual_seed(0)
    conv = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    wide = nn.Sequential(nn.Linear(4, 8192), nn.ReLU(), nn.Linear(8192, 2))
    with torch.no_grad():
        wide[0].bias[:6000] = -100.0  # 6000 of 8192 units never fire
    measured = {}
    for name, model, x in (("conv", conv, torch.randn(16, 3, 32, 32)), ("wide", wide, torch.randn(16, 4))):
        model(x)  # materialize the lazy layer
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        writer = DiagWriter(f"{logdir}/{name}")
        seen = _spy(writer)
        writer.watch(model, optimizer)
        _loop(writer, model, optimizer, [(x, torch.zeros(16, dtype=torch.long))])
        writer.close()
        measured[name] = {a.name: a for a in seen[0].activations}
    assert measured["conv"]["0"].numel == 64 * 32 * 32 and measured["conv"]["1"].numel == 64 * 32 * 32
    relu = measured["wide"]["1"]
    assert relu.numel == 8 * 8192 and relu.dead_units >= 6000
    assert measured["wide"]["2"].numel == 16 * 2  # a small output is measured on all 16 rows


def test_hooks_work_only_on_sampled_steps(logdir):
    """Only sampled steps measure activations (leaf hooks exist just during their forward) and
    reach the detectors when healthy; no statistic tensor outlives its step."""
    model = mlp(8, 16, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    seen = _spy(writer)
    handle = writer.watch(model, optimizer, every=3)
    _loop(writer, model, optimizer, batches(5, (32, 8), classes=4))
    assert [(s.step, bool(s.activations)) for s in seen] == [(0, True), (3, True)]
    assert all(s.grad_norms for s in seen)
    assert all(not m._forward_hooks for m in model.modules() if m is not model)
    assert handle._record is None and handle._pending == []
    writer.close()


def test_evaluation_passes_are_not_observed(logdir):
    """model.eval() + no_grad between steps: no statistics, no step counted, no alarm."""
    model = mlp(8, 16, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    seen = _spy(writer)
    writer.watch(model, optimizer, every=1)
    data = batches(3, (8, 8), classes=4)
    for step, (x, y) in enumerate(data):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        model.eval()
        with torch.no_grad():
            model(torch.full((8, 8), float("nan")))
        model.train()
    writer.close()
    assert [s.step for s in seen] == [0, 1, 2]
    assert problems(writer.events) == []


def test_a_failing_hook_never_reaches_the_training_loop(logdir, monkeypatch):
    """A bug in the statistics becomes one diagnostic_failure event; training goes on."""
    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(S, "activation_stats", broken)
    with pytest.warns(RuntimeWarning, match="boom"):
        events = train(logdir, mlp(8, 16, 4), batches(12, (8, 8), classes=4), F.cross_entropy)
    failures = [e for e in events if e.kind == "diagnostic_failure"]
    assert len(failures) == 1 and failures[0].step == 0
    # The hook stays installed (and fails again, unreported): the message must not say otherwise.
    assert "switched off" not in failures[0].message and "keeps running" in failures[0].message


def test_without_an_optimizer_each_backward_is_a_step(logdir):
    """watch(model) alone: a step ends with each backward pass, gradients measured then."""
    model = mlp(8, 4)
    writer = DiagWriter(logdir)
    seen = _spy(writer)
    writer.watch(model, every=1)
    for x, y in batches(3, (4, 8), classes=4):
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    writer.close()
    assert [s.step for s in seen] == [0, 1, 2] and all(len(s.grad_norms) == 2 for s in seen)


def _bn_cnn():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


def _healthy(name):
    """(model, data, loss_fn, optimizer factory, train() keywords) of a healthy control."""
    classes = batches(30, (32, 8), classes=4)
    if name == "momentum_sgd":
        return mlp(8, 16, 4), classes, F.cross_entropy, lambda m: torch.optim.SGD(m.parameters(), 0.05, momentum=0.9), {}
    if name == "adam":
        return mlp(8, 16, 4), classes, F.cross_entropy, lambda m: torch.optim.Adam(m.parameters(), 1e-3), {}
    if name == "warmup":
        return mlp(8, 16, 4), classes, F.cross_entropy, None, {"warmup": True}
    if name == "accumulation":
        return mlp(8, 16, 4), classes, F.cross_entropy, None, {"accumulate": 4}
    if name == "dropout":
        model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 4))
        return model, classes, F.cross_entropy, None, {}
    if name == "batchnorm_cnn":
        return _bn_cnn(), batches(20, (16, 3, 8, 8), classes=4), F.cross_entropy, None, {}
    if name == "log_softmax_nll":
        return mlp(8, 16, 4, last_act=nn.LogSoftmax(dim=1)), classes, F.nll_loss, None, {}
    if name == "bce_with_logits":
        data = [(x, (x[:, 0] > 0).float().unsqueeze(1)) for x, _ in classes]
        return mlp(8, 16, 1), data, F.binary_cross_entropy_with_logits, None, {}
    raise KeyError(name)


@pytest.mark.parametrize("name", ["momentum_sgd", "adam", "warmup", "accumulation", "dropout",
                                  "batchnorm_cnn", "log_softmax_nll", "bce_with_logits"])
def test_healthy_training_raises_nothing(logdir, name):
    """Healthy controls, each with an eval pass under no_grad between steps: no warning, no error."""
    model, data, loss_fn, make_optimizer, options = _healthy(name)
    optimizer = make_optimizer(model) if make_optimizer else torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = None
    if options.pop("warmup", False):
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: min(1.0, k / 10))
    events = train(logdir, model, data, loss_fn, optimizer, scheduler=scheduler,
                   eval_batch=data[0], **options)
    assert problems(events) == []


def _sampled_steps(logdir, data, **options):
    """The steps a healthy small classifier's watch() samples over `data`, with `options`."""
    model = mlp(8, 16, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    writer = DiagWriter(logdir)
    seen = _spy(writer)
    writer.watch(model, optimizer, **options)
    _loop(writer, model, optimizer, data)
    writer.close()
    return [s.step for s in seen if s.sampled], writer


def test_sampling_relaxes_while_the_run_is_calm(logdir):
    """Healthy: every 10 steps for the first 5 samples, then every 20, then every 40 (max_every)."""
    data = batches(8, (32, 8), classes=4) * 50  # 400 steps of a few repeating batches
    steps, writer = _sampled_steps(logdir, data, max_every=40)
    assert problems(writer.events) == []
    assert steps[:5] == list(range(0, 50, 10))
    assert steps[5:10] == list(range(60, 160, 20))
    assert steps[10:] == list(range(160, 400, 40))


def test_fixed_interval_with_max_every_equal_to_every(logdir):
    """max_every=every keeps the user's interval for the whole run."""
    steps, _ = _sampled_steps(logdir, batches(8, (32, 8), classes=4) * 25, every=10, max_every=10)
    assert steps == list(range(0, 200, 10))


def test_a_flagged_step_brings_dense_sampling_back(logdir):
    """A NaN batch at step 250, mid-relaxation: reported at once, then sampled every 10 steps again."""
    data = batches(8, (32, 8), classes=4) * 40
    data[250] = (torch.full((32, 8), math.nan), data[250][1])
    steps, writer = _sampled_steps(logdir, data[:251] + batches(8, (32, 8), classes=4) * 5)
    assert any(e.kind == "nonfinite_input" and e.step == 250 for e in writer.events)
    after = [s for s in steps if s > 250]
    assert after[:3] == [260, 270, 280]
    assert [s for s in steps if 160 <= s < 250] == [160, 200, 240]


def test_an_unsampled_step_whose_gradients_jump_is_measured_in_full(logdir):
    """Between samples, a step whose gradients are 1000x those of the last sampled step reaches
    the detectors with every gradient norm; the calm unsampled steps around it do not."""
    torch.manual_seed(0)
    model = mlp(8, 16, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)
    writer = DiagWriter(logdir)
    seen = _spy(writer)
    writer.watch(model, optimizer, every=10, max_every=10)
    for step, (x, y) in enumerate(batches(15, (32, 8), classes=4)):
        optimizer.zero_grad()
        (F.cross_entropy(model(x), y) * (1000.0 if step == 13 else 1.0)).backward()
        optimizer.step()
    writer.close()
    assert [(s.step, s.sampled) for s in seen] == [(0, True), (10, True), (13, False)]
    assert set(seen[2].grad_norms) == set(seen[1].grad_norms)
    assert seen[2].grad_norm > 100 * seen[1].grad_norm


def test_max_every_below_every_names_the_fix(logdir):
    """max_every smaller than every fails at watch() and says how to get a fixed interval."""
    writer = DiagWriter(logdir)
    with pytest.raises(ValueError, match="max_every=every"):
        writer.watch(mlp(4, 2), every=10, max_every=5)
    writer.close()


def test_a_step_closure_is_measured_after_it_ran(logdir):
    """optimizer.step(closure) (LBFGS): the gradients measured are those the closure computes in that step."""
    torch.manual_seed(0)
    model = mlp(8, 16, 4)
    optimizer = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=3)
    writer = DiagWriter(logdir)
    seen = _spy(writer)
    writer.watch(model, optimizer, every=1)
    x, y = batches(1, (32, 8), classes=4)[0]
    x[3, 2] = math.nan  # a NaN only the closure's forward sees
    calls = []

    def closure():
        calls.append(1)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    writer.close()
    assert not math.isfinite(loss.item()) and len(calls) >= 1
    assert seen[0].step == 0 and not math.isfinite(seen[0].grad_norm)
    assert any(e.kind == "nonfinite_input" and e.step == 0 for e in writer.events)


class _LogLayer(nn.Module):
    def forward(self, x):
        return torch.log(x)


@pytest.mark.parametrize("where", ["input", "module"])
def test_without_guard_the_first_nan_forward_on_cpu_names_where_the_nan_was_born(logdir, where):
    """guard off, CPU, an unsampled step: a NaN input batch is named 'input'; a log of a negative
    activation (finite input) names that module; once per run."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), _LogLayer(), nn.Linear(4, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, every=10 ** 6, first_step=1)
    for step in range(1, 5):
        x = torch.rand(8, 4) if step < 3 or where == "input" else -torch.rand(8, 4) - 10
        if where == "input" and step >= 3:
            x[1, 2] = float("nan")
        optimizer.zero_grad()
        with torch.no_grad():  # keep the log's argument positive on the healthy steps
            model[0].weight.abs_(), model[0].bias.abs_()
        F.cross_entropy(model(x), torch.zeros(8, dtype=torch.long)).backward()
        optimizer.step()
    writer.close()
    origins = [e for e in writer.events if e.kind == "nonfinite_origin"]
    assert [(e.step, list(e.evidence)) for e in origins] == [(3, [where])]
    assert ("'1'" in origins[0].message) is (where == "module")
