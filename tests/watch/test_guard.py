"""watch(guard=...): a NaN step does not reach the weights, the optimizer state or BatchNorm's
statistics; the batch is kept; guard="stop" and max_skips stop training with DiagnosticError."""

import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from detectors.scenarios import batches
from tb_lossdiag import DiagnosticError, DiagWriter, batchfile

NAN_STEP = 5


def _bn_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))


def _data(nan_steps=(NAN_STEP,), steps=20):
    data = batches(steps, (12, 6), classes=3)
    for step in nan_steps:
        data[step][0][3, 1] = float("nan")
    return data


OPTIMIZERS = {
    "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
    "sgd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.01),
}


def _train(model, optimizer, data, writer=None, first=0):
    for step, (x, y) in enumerate(data, start=first):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        if writer is not None:
            writer.add_scalar("loss/train", loss, step)


def _kinds(writer, kind):
    return [e for e in writer.events if e.kind == kind]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_nan_batch_is_skipped_as_if_it_never_came(logdir, name):
    """NaN batch at step 5 of 20: the weights, the optimizer state and BatchNorm's running statistics
    end exactly as in the same run trained without that batch, and training goes on."""
    model = _bn_model()
    optimizer = OPTIMIZERS[name](model.parameters())
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, guard=True)
    _train(model, optimizer, _data(), writer)
    writer.close()

    reference = _bn_model()
    reference_optimizer = OPTIMIZERS[name](reference.parameters())
    data = _data()
    _train(reference, reference_optimizer, data[:NAN_STEP] + data[NAN_STEP + 1:])

    for (key, value), expected in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(value, expected), key  # BatchNorm's running_mean/var/num_batches_tracked too
    assert all(torch.isfinite(b).all() for b in model.buffers())
    for state, expected in zip(optimizer.state.values(), reference_optimizer.state.values()):
        for key in expected:
            assert torch.equal(state[key], expected[key]), key  # Adam's step count: 19, not 20
    (skipped,) = _kinds(writer, "skipped_step")
    assert skipped.step == NAN_STEP and "skipped" in skipped.message and "restored" in skipped.message
    assert os.path.join("lossdiag", f"batch-{NAN_STEP}.pt") in skipped.message
    # The NaN-origin search ran on the kept batch: the NaN was born in the input.
    assert [(e.step, e.evidence) for e in _kinds(writer, "nonfinite_origin")] == [(NAN_STEP, {"input": 1.0})]


def test_the_kept_batch_reproduces_the_nan_and_stop_leaves_the_weights_of_step_4(logdir):
    """guard="stop" raises at step 5 before optimizer.step(): the model is the one trained on steps
    0-4 (BatchNorm statistics included); the kept batch, fed to it, gives the NaN loss again."""
    model = _bn_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, guard="stop")
    with pytest.raises(DiagnosticError, match="stopped at step 5 before optimizer.step") as raised:
        _train(model, optimizer, _data(), writer)
    writer.close()
    assert raised.value.event.kind == "guard_stop"

    reference = _bn_model()
    _train(reference, torch.optim.Adam(reference.parameters(), lr=0.01), _data()[:NAN_STEP])
    for (key, value), expected in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(value, expected), key

    path = os.path.join(logdir, "lossdiag", f"batch-{NAN_STEP}.pt")
    payload = batchfile.load(path)
    (args,) = [forward["args"] for forward in payload["forwards"]]
    assert torch.isnan(F.cross_entropy(model(*args), _data()[NAN_STEP][1]))
    assert torch.equal(torch.isnan(args[0]), torch.isnan(_data()[NAN_STEP][0]))


def test_a_run_where_every_batch_is_nan_stops_after_max_skips(logdir):
    """Every batch NaN: 4 steps skipped, then DiagnosticError; the weights are the initial ones;
    3 batch files (keep_batches' default), the 4th skip says its batch is not kept."""
    model = _bn_model()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, guard=True, max_skips=4)
    with pytest.raises(DiagnosticError, match="4 steps in a row were skipped") as raised:
        _train(model, optimizer, _data(nan_steps=range(20)), writer)
    writer.close()
    assert raised.value.event.step == 3
    assert all(torch.equal(v, initial[k]) for k, v in model.state_dict().items())
    skipped = _kinds(writer, "skipped_step")
    assert [e.step for e in skipped] == [0, 1, 2, 3]
    assert sorted(os.listdir(os.path.join(logdir, "lossdiag"))) == ["batch-0.pt", "batch-1.pt", "batch-2.pt"]
    assert "not kept: 3 batch files kept already" in skipped[3].message


def test_with_gradient_accumulation_every_micro_batch_of_a_skipped_step_is_undone_and_kept(logdir):
    """Two micro-batches per optimizer step, NaN in the second of step 1: BatchNorm's statistics are
    back to before the first, and the batch file holds both forwards."""
    model = _bn_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, guard=True)
    data = _data(nan_steps=(3,), steps=6)
    for step in range(3):
        if step == 1:
            before = [b.clone() for b in model.buffers()]
        optimizer.zero_grad()
        for x, y in data[2 * step:2 * step + 2]:
            F.cross_entropy(model(x), y).backward()
        optimizer.step()
        if step == 1:
            assert all(torch.equal(b, saved) for b, saved in zip(model.buffers(), before))
    writer.close()
    (skipped,) = _kinds(writer, "skipped_step")
    assert skipped.step == 1
    payload = batchfile.load(os.path.join(logdir, "lossdiag", "batch-1.pt"))
    assert [torch.equal(f["args"][0], x) for f, (x, _) in zip(payload["forwards"], data[2:4])] == [True, False]
    assert torch.isnan(payload["forwards"][1]["args"][0]).any()


def test_a_healthy_step_resets_the_count_of_skips_in_a_row(logdir):
    """NaN batches at steps 2, 3, 5, 6 with max_skips=3: never 3 in a row, so training goes on."""
    model = _bn_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, guard=True, max_skips=3)
    _train(model, optimizer, _data(nan_steps=(2, 3, 5, 6), steps=10), writer)
    writer.close()
    assert [e.evidence["in_a_row"] for e in _kinds(writer, "skipped_step")] == [1, 2, 1, 2]
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_nan_loss_logged_before_step_is_skipped_even_with_finite_gradients(logdir):
    """log(x) of a negative x: the loss is NaN, its gradient 1/x is finite; logged before
    optimizer.step() (and before backward(), so its target is kept), the step is skipped."""
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, guard=True)
    for step in range(3):
        x, target = torch.ones(4, 3), torch.full((4, 1), float(step))
        optimizer.zero_grad()
        out = model(x)
        loss = F.mse_loss(out, target) + torch.log(out + (-100.0 if step == 1 else 100.0)).mean()
        writer.add_scalar("loss/train", loss, step)
        loss.backward()
        if step == 1:
            assert all(torch.isfinite(p.grad).all() for p in model.parameters())
            before = [p.clone() for p in model.parameters()]
        optimizer.step()
        if step == 1:
            assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before))
    writer.close()
    (skipped,) = _kinds(writer, "skipped_step")
    assert skipped.step == 1 and "the loss is nan" in skipped.message
    payload = batchfile.load(os.path.join(logdir, "lossdiag", "batch-1.pt"))
    assert torch.equal(payload["target"], torch.full((4, 1), 1.0))


@pytest.mark.parametrize("value, skipped", [(-float("inf"), True), (float("nan"), True), (3e38, False)])
def test_one_non_finite_gradient_value_is_skipped_and_a_huge_finite_one_is_not(logdir, value, skipped):
    """One -inf or NaN among finite gradients skips the step; gradients of 3e38 (whose sum and
    sum of squares overflow float32) are finite, and the step is taken."""
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    # 1e-37: the update (~30) stays finite, and the lr is a normal float32 (a denormal one reads as 0
    # once anything in the process has turned on flush-to-zero).
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-37)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, guard=True)
    model(torch.ones(3, 4)).sum().backward()
    model.weight.grad.fill_(3e38)
    model.weight.grad[1, 2] = value
    before = model.weight.detach().clone()
    optimizer.step()
    writer.close()
    assert torch.equal(model.weight, before) is skipped
    assert len(_kinds(writer, "skipped_step")) == int(skipped)


def test_a_closure_optimizer_skips_too(logdir):
    """optimizer.step(closure) (LBFGS): the closure runs in the guard's pre-step hook, so a NaN
    batch's step leaves the weights as they were."""
    torch.manual_seed(0)
    model = nn.Linear(6, 3)
    optimizer = torch.optim.LBFGS(model.parameters(), lr=0.1, max_iter=3)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, guard=True)
    for step, (x, y) in enumerate(_data(nan_steps=(2,), steps=4)):
        def closure():
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            return loss
        before = [p.detach().clone() for p in model.parameters()]
        optimizer.step(closure)
        assert all(torch.equal(p, b) for p, b in zip(model.parameters(), before)) is (step == 2)
    writer.close()
    assert [e.step for e in _kinds(writer, "skipped_step")] == [2]


@pytest.mark.parametrize("workers", [0, 2])
def test_with_the_loader_the_kept_batch_names_its_sample_indices(logdir, workers):
    """watch(loader=...): a shuffled loader (with worker processes or not) whose sample 17 holds a
    NaN: the batch file of each epoch's bad step names the indices of exactly the samples it
    holds; close() gives the loader back as it was."""
    x, y = torch.randn(40, 6), torch.randint(0, 3, (40,))
    x[17, 2] = float("nan")
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8, shuffle=True,
                                         num_workers=workers, generator=torch.Generator().manual_seed(0))
    sampler = loader.batch_sampler.sampler
    model = _bn_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, guard=True, loader=loader)
    step = 0
    for _ in range(2):
        for xb, yb in loader:
            _train(model, optimizer, [(xb, yb)], writer, first=step)
            step += 1
    writer.close()
    skipped = _kinds(writer, "skipped_step")
    assert len(skipped) == 2 and all(torch.isfinite(p).all() for p in model.parameters())
    for event in skipped:
        payload = batchfile.load(os.path.join(logdir, "lossdiag", f"batch-{event.step}.pt"))
        (indices,) = payload["indices"]
        assert 17 in indices and len(indices) == 8
        assert torch.equal(payload["forwards"][0]["args"][0].nan_to_num(), x[indices].nan_to_num())
    assert loader.batch_sampler.sampler is sampler and "_get_iterator" not in loader.__dict__


def test_keep_mb_bounds_the_batch_files(logdir):
    """Over keep_mb, the event says the batch is not kept and no file is written."""
    model = _bn_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, guard=True, keep_mb=0)
    _train(model, optimizer, _data(steps=8), writer)
    writer.close()
    (skipped,) = _kinds(writer, "skipped_step")
    assert "is not kept: over the 0 MB per run" in skipped.message
    assert not os.path.exists(os.path.join(logdir, "lossdiag"))


def test_a_batch_file_that_cannot_be_written_does_not_stop_the_skip(logdir):
    """<run>/lossdiag cannot be made (a file has that name): the step is skipped all the same and
    the event says why its batch is not there; guard="stop" still stops."""
    for guard in (True, "stop"):
        model = _bn_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        writer = DiagWriter(logdir)
        open(os.path.join(logdir, "lossdiag"), "w").close()
        writer.watch(model, optimizer, guard=guard)
        if guard == "stop":
            with pytest.raises(DiagnosticError, match="its batch could not be saved"):
                _train(model, optimizer, _data(steps=8), writer)
        else:
            _train(model, optimizer, _data(steps=8), writer)
            (skipped,) = _kinds(writer, "skipped_step")
            assert "its batch could not be saved" in skipped.message
            assert all(torch.isfinite(p).all() for p in model.parameters())
        writer.close()


def test_with_an_enabled_grad_scaler_the_scaler_does_the_skipping(logdir):
    """watch(scaler=..., guard=True): the scaler skips the NaN step itself; the guard adds no hook
    and no event of its own."""
    model = _bn_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu")
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, scaler=scaler, guard=True, every=10 ** 6, first_step=1)
    for x, y in _data(steps=8):
        optimizer.zero_grad()
        scaler.scale(F.cross_entropy(model(x), y)).backward()
        scaler.step(optimizer)
        scaler.update()
        assert not optimizer._optimizer_step_pre_hooks and not model._forward_pre_hooks
    writer.close()
    assert not _kinds(writer, "skipped_step")
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_guard_off_adds_no_hook_to_an_unsampled_step(logdir):
    """guard=False (the default): an unsampled step has no pre-step or forward pre-hook; guard=True
    adds exactly one of each."""
    for guard, hooks in ((False, 0), (True, 1)):
        model = _bn_model()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        writer = DiagWriter(logdir)
        handle = writer.watch(model, optimizer, guard=guard, every=10 ** 6, first_step=1)
        _train(model, optimizer, _data(nan_steps=(), steps=2), writer, first=1)
        assert len(optimizer._optimizer_step_pre_hooks) == hooks and len(model._forward_pre_hooks) == hooks
        handle.remove()
        writer.close()


def test_bad_guard_arguments_name_the_fix(logdir):
    """Wrong guard settings fail before anything is hooked, naming what to pass."""
    model = _bn_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    with pytest.raises(ValueError, match='guard must be True .* "stop"'):
        writer.watch(model, optimizer, guard="skip")
    with pytest.raises(ValueError, match="needs the optimizer whose step"):
        writer.watch(model, guard=True)
    with pytest.raises(ValueError, match="max_skips must be a number of steps >= 1"):
        writer.watch(model, optimizer, guard=True, max_skips=0)
    with pytest.raises(ValueError, match="keep_batches must be"):
        writer.watch(model, optimizer, guard=True, keep_batches=-1)
    with pytest.raises(ValueError, match="keep_mb must be a size in MB"):
        writer.watch(model, optimizer, guard=True, keep_mb="64MB")
    loader = torch.utils.data.DataLoader(list(range(4)), batch_size=2)
    with pytest.raises(ValueError, match="pass guard=True too"):
        writer.watch(model, optimizer, loader=loader)
    with pytest.raises(ValueError, match="needs a torch DataLoader made with batch_size"):
        writer.watch(model, optimizer, guard=True, loader=torch.utils.data.DataLoader(list(range(4)), batch_size=None))
    assert not model._forward_hooks and not model._forward_pre_hooks
    writer.close()
