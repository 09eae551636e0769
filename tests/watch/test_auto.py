"""Swap-only: a loop that only swaps SummaryWriter for DiagWriter and logs the loss tensor gets the
gradient checks watch() gives, at the same steps, from the loss's autograd graph."""

import gc
import weakref

import pytest
import torch
import torch.optim.optimizer as optimizer_hooks
from torch import nn

from tb_lossdiag import DiagWriter
from tb_lossdiag.watch import auto
from tb_lossdiag.watch.auto_graph import leaves

MODEL_KINDS = ("nonfinite_gradient", "exploding_gradient", "missing_zero_grad", "frozen_parameters",
               "vanishing_gradient")


def _train(logdir, watch=False, steps=30, log_first=False, fault=None, zero_grad=True, log_item=False, lr=0.05,
           log_before_step=False, **writer_options):
    """A plain classifier loop; `fault(step, loss, model)` may change the loss. Returns the writer's
    events (closed) as (step, kind) of the model kinds, and the writer."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    writer = DiagWriter(logdir, **writer_options)
    if watch:
        writer.watch(model, optimizer)
    _fit(writer, model, optimizer, torch.randn(64, 8), torch.randint(0, 3, (64,)), steps, log_first=log_first,
         fault=fault, zero_grad=zero_grad, log_item=log_item, log_before_step=log_before_step)
    return [(e.step, e.kind) for e in writer.events if e.kind in MODEL_KINDS], writer


def _fit(writer, model, optimizer, x, y, steps, log_first=False, fault=None, zero_grad=True, log_item=False,
         log_before_step=False):
    """`steps` steps of a classifier loop logging "loss/train" after optimizer.step() (before backward
    with `log_first`, between backward and step with `log_before_step`), then close the writer.
    `zero_grad`: True at each step's start, "after_step" (set_to_none) or "after_step_in_place"
    right after optimizer.step(), before the loss is logged; False never."""
    for step in range(steps):
        if zero_grad is True:
            optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        if fault is not None:
            loss = fault(step, loss, model, x, y)
        if log_first:
            writer.add_scalar("loss/train", loss.item() if log_item else loss, step)
        loss.backward()
        if log_before_step:
            writer.add_scalar("loss/train", loss, step)
        optimizer.step()
        if zero_grad in ("after_step", "after_step_in_place"):
            optimizer.zero_grad(set_to_none=zero_grad == "after_step")
        if not (log_first or log_before_step):
            writer.add_scalar("loss/train", loss.item() if log_item else loss, step)
    writer.close()


def _both(tmp_path, **options):
    """(watch()'s model events, swap-only's) for the same loop."""
    watched, _ = _train(str(tmp_path / "watch"), watch=True, **options)
    swapped, writer = _train(str(tmp_path / "auto"), **options)
    return watched, swapped, writer


def _nan_hidden_gradient(step, loss, model, x, y):
    """From step 7 the gradient reaching the first layer's output turns NaN (the loss stays finite)."""
    if step < 7:
        return loss
    hidden = model[0](x)
    hidden.register_hook(lambda grad: grad * float("nan"))
    return nn.functional.cross_entropy(model[4](model[3](model[2](model[1](hidden)))), y)


def test_nonfinite_gradient_at_the_same_step_naming_the_first_broken_parameter(tmp_path):
    """A NaN born in backward at the first layer: nonfinite_gradient at step 7 as with watch(),
    naming only the first layer's parameters (the later layers' gradients stay finite)."""
    watched, swapped, writer = _both(tmp_path, fault=_nan_hidden_gradient)
    assert ("nonfinite_gradient" in {k for _, k in watched}) and swapped == watched
    (event,) = [e for e in writer.events if e.kind == "nonfinite_gradient"]
    assert event.step == 7 and "2 of 6 parameters" in event.message
    assert "'param 4 (32, via AddmmBackward0)', 'param 5 (32x8, via AddmmBackward0)'" in event.message


def test_a_healthy_loop_gets_no_model_event_and_no_info(tmp_path):
    watched, swapped, writer = _both(tmp_path)
    assert watched == swapped == []
    assert writer.events == []


def test_vanishing_gradient_at_the_same_step(tmp_path):
    """A 10-layer sigmoid MLP: the first layer's gradient vanishes; the graph's ops are its layers,
    first layer first, as watch()'s modules are."""
    found = {}
    for name, watch in (("watch", True), ("auto", False)):
        torch.manual_seed(0)
        blocks = [nn.Linear(8, 32), nn.Sigmoid()] + [m for _ in range(9) for m in (nn.Linear(32, 32), nn.Sigmoid())]
        model = nn.Sequential(*blocks, nn.Linear(32, 3))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        writer = DiagWriter(str(tmp_path / name))
        if watch:
            writer.watch(model, optimizer)
        _fit(writer, model, optimizer, torch.randn(64, 8), torch.randint(0, 3, (64,)), 12)
        found[name] = [(e.step, e.kind) for e in writer.events if e.kind in MODEL_KINDS]
    assert found["auto"] == found["watch"] == [(10, "vanishing_gradient")]


def test_parameters_are_found_in_the_order_backward_reaches_them():
    """A residual block and a weight used twice: the order found is the order backward accumulates."""
    torch.manual_seed(0)
    first, second, head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)
    x = torch.randn(3, 4)
    h = torch.relu(first(x))
    h = h + second(h) + nn.functional.linear(h, first.weight)  # first.weight also used late
    loss = head(h).sum()
    reached = []
    for p in (*first.parameters(), *second.parameters(), *head.parameters()):
        p.register_post_accumulate_grad_hook(lambda p: reached.append(p))
    found = [leaf.node.variable for leaf in leaves(loss.grad_fn)]
    loss.backward()
    assert [id(p) for p in found] == [id(p) for p in reached]


def _explode(step, loss, model, x, y):
    return loss * 1e9 if step == 15 else loss


def test_exploding_gradient_at_the_same_step(tmp_path):
    """A gradient 1e9x its typical level at step 15 (an unsampled step): found there, as by watch()."""
    watched, swapped, _ = _both(tmp_path, fault=_explode)
    assert (15, "exploding_gradient") in swapped and swapped == watched


@pytest.mark.parametrize("zero_grad", ["after_step", "after_step_in_place"])
@pytest.mark.parametrize("fault, found", [(None, []), (_nan_hidden_gradient, [(7, "nonfinite_gradient")]),
                                          (_explode, [(15, "exploding_gradient")])])
def test_gradients_cleared_before_the_loss_is_logged_are_measured_as_backward_ends(tmp_path, zero_grad, fault, found):
    """A loop that calls zero_grad() right after step() and logs the loss after that: no gradient
    (or only zeros) is left when the loss is logged, so each backward is measured as it ends. The
    NaN and the explosion come at watch()'s steps; the unbroken loop gets nothing (no uncleared
    or frozen parameter read from zeroed gradients)."""
    watched, swapped, _ = _both(tmp_path, fault=fault, zero_grad=zero_grad)
    assert swapped == watched
    assert [event for event in swapped if event[1] in ("nonfinite_gradient", "exploding_gradient")][:1] == found
    if fault is None:
        assert swapped == []


def test_missing_zero_grad_at_the_same_step_when_the_loss_is_logged_before_backward(tmp_path):
    watched, swapped, _ = _both(tmp_path, zero_grad=False, log_first=True)
    assert swapped == watched == [(1, "missing_zero_grad")]


@pytest.mark.parametrize("zero_grad", [False, True])
def test_missing_zero_grad_at_the_same_step_when_the_loss_is_logged_between_backward_and_step(tmp_path, zero_grad):
    """The first loss found after its backward, before step(): the gradients found on its parameters
    then are the ones the update applies, so the next backward is checked (step 1, as watch())."""
    watched, swapped, _ = _both(tmp_path, zero_grad=zero_grad, log_before_step=True)
    assert swapped == watched == ([] if zero_grad else [(1, "missing_zero_grad")])


@pytest.mark.parametrize("zero_grad", [False, True])
def test_missing_zero_grad_at_the_same_step_when_the_loss_is_logged_after_step(tmp_path, zero_grad):
    """Logged after step(), the first loss comes after an update the writer saw (its early optimizer
    hook): the gradients it finds were applied, so the next backward adding to them is step 1's
    missing zero_grad(), as with watch()."""
    watched, swapped, _ = _both(tmp_path, zero_grad=zero_grad)
    assert swapped == watched == ([] if zero_grad else [(1, "missing_zero_grad")])


@pytest.mark.parametrize("where", ["log_first", "log_before_step", "after_step"])
def test_without_graph_task_ids_each_pass_end_marks_the_next_start(tmp_path, monkeypatch, where):
    """Torch before 2.1 has no graph task ids: a backward pass is then new when a loss was logged
    since the last one. missing_zero_grad still comes at watch()'s step."""
    monkeypatch.setattr(auto, "_graph_task", auto._NO_TASK_IDS)
    watched, swapped, _ = _both(tmp_path, zero_grad=False, log_first=where == "log_first",
                                log_before_step=where == "log_before_step", steps=12)
    assert swapped == watched == [(1, "missing_zero_grad")]


def _accumulate(logdir, micro_batches, steps, clip=None, set_to_none=True):
    """A loop of `micro_batches` backward passes per optimizer step (gradients clipped in place to
    `clip` before it), the loss logged after each backward; the writer, flushed."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    writer = DiagWriter(logdir)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    for step in range(steps):
        part = step % micro_batches
        loss = nn.functional.cross_entropy(model(x[part::micro_batches]), y[part::micro_batches])
        (loss / micro_batches).backward()
        if part == micro_batches - 1:
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=set_to_none)
        writer.add_scalar("loss/train", loss, step)
    writer.flush()
    return writer


def test_an_accumulation_logged_before_its_first_update_is_no_missing_zero_grad(tmp_path):
    """Four micro-batches per optimizer step: the first loss comes before any update, so the next
    backward adding to its gradients is right."""
    writer = _accumulate(str(tmp_path), micro_batches=4, steps=24)
    writer.close()
    assert [e.kind for e in writer.events] == []


def test_a_writer_dropped_without_close_leaves_no_optimizer_hook(tmp_path):
    """The optimizer post-step hook a swap-only writer has until its first loss tensor goes with it."""
    hooks = len(optimizer_hooks._global_optimizer_post_hooks)
    unused = DiagWriter(str(tmp_path / "unused"))
    assert len(optimizer_hooks._global_optimizer_post_hooks) == hooks + 1
    del unused
    gc.collect()
    assert len(optimizer_hooks._global_optimizer_post_hooks) == hooks


def test_gradient_accumulation_and_clipping_are_no_missing_zero_grad(tmp_path):
    """Backward twice per optimizer step, gradients clipped in place: healthy, nothing found."""
    writer = _accumulate(str(tmp_path), micro_batches=2, steps=40, clip=0.1, set_to_none=False)
    writer.close()
    assert [e.kind for e in writer.events] == []


def test_missing_zero_grad_with_clipping(tmp_path):
    """wekws's loop: backward, clip_grad_norm_ (in place), step, never zero_grad(): found."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    writer = DiagWriter(str(tmp_path))
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    for step in range(10):
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
    assert [(e.step, e.kind) for e in writer.events if e.severity != "info"] == [(1, "missing_zero_grad")]


def _rounded(step, loss, model, x, y):
    """A loss through round(): every gradient is exactly zero, nothing learns."""
    return ((model(x).round() - 1.0) ** 2).mean()


def test_frozen_parameters_at_the_same_step(tmp_path):
    watched, swapped, _ = _both(tmp_path, fault=_rounded)
    assert (20, "frozen_parameters") in swapped and swapped == watched


def test_parameters_that_never_change_are_frozen(tmp_path):
    """lr 0: the gradients are not zero but no parameter's fingerprint ever changes. Unchanged is
    first seen at the second sampled step (step 10), so 20 steps of it at step 30 (watch(), which
    reads the learning rate, names lr 0 at step 20)."""
    events, writer = _train(str(tmp_path), fault=None, lr=0.0, steps=31)
    assert events == [(30, "frozen_parameters")]
    assert "no parameter has changed" in [e for e in writer.events if e.kind == "frozen_parameters"][0].message


def test_a_layer_the_optimizer_leaves_out_is_named_unchanged(tmp_path):
    """An optimizer built from the last layer only: the first layers get gradients and never move
    while the last one does; named at the first sampled step that can compare (step 10). With
    every layer in the optimizer nothing is said."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    for name, params in (("left_out", model[2].parameters()), ("all", model.parameters())):
        optimizer = torch.optim.Adam(params, lr=1e-3)
        writer = DiagWriter(str(tmp_path / name))
        _fit(writer, model, optimizer, x, y, 21)
        frozen = [e for e in writer.events if e.kind == "frozen_parameters"]
        if name == "all":
            assert frozen == []
        else:
            assert [e.step for e in frozen] == [10] and "never change" in frozen[0].message
            assert "(16x8, via" in frozen[0].message and "(3x16" not in frozen[0].message


def test_the_first_alarm_says_once_what_watch_adds(tmp_path):
    _, writer = _train(str(tmp_path), fault=_explode)
    notes = [e for e in writer.events if e.kind == "auto_watch"]
    assert len(notes) == 1 and notes[0].severity == "info" and notes[0].step == 15
    assert "watch(model, optimizer)" in notes[0].hint


def test_auto_watch_false_and_a_float_loss_install_nothing(tmp_path):
    off, _ = _train(str(tmp_path / "off"), fault=_nan_hidden_gradient, auto_watch=False)
    floats, _ = _train(str(tmp_path / "float"), fault=_nan_hidden_gradient, log_item=True)
    assert off == floats == []


def test_watch_takes_over(tmp_path):
    """watch() after some swap-only steps: a NaN gradient is then named once, by watch(), with
    the module's parameter names."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    writer = DiagWriter(str(tmp_path))
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    for step in range(12):
        if step == 5:
            writer.watch(model, optimizer, first_step=5)
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        if step == 8:
            model[0].weight.register_hook(lambda grad: grad * float("nan"))
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
    (found,) = [e for e in writer.events if e.kind == "nonfinite_gradient"]
    assert found.step == 8 and "'0.weight'" in found.message
    assert not [e for e in writer.events if e.kind == "auto_watch"]


def test_close_lets_go_of_the_writer_and_keeps_no_batch(tmp_path):
    """After add_scalar nothing of the batch is held; after close() no hook is left on the
    parameters' gradient accumulators, which others hold too (DDP does): they no longer hold the writer."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    accumulators = [p.view_as(p).grad_fn.next_functions[0][0] for p in model.parameters()]
    writer = DiagWriter(str(tmp_path))
    x = torch.randn(64, 8)
    out = model(x)
    loss = out.square().mean()
    loss.backward()
    writer.add_scalar("loss/train", loss, 0)
    batch = weakref.ref(out)
    del out, loss
    gc.collect()
    assert batch() is None
    writer.close()
    ref = weakref.ref(writer)
    del writer
    gc.collect()
    assert ref() is None and accumulators


@pytest.mark.parametrize("log_first", [False, True])
def test_same_stats_as_watch_on_sampled_steps(tmp_path, log_first):
    """The gradient norms the detectors get equal watch()'s, parameter for parameter."""
    seen = {}
    for name, watch in (("watch", True), ("auto", False)):
        norms = seen[name] = []

        class Probe(DiagWriter):
            def observe_step(self, stats, norms=norms):
                norms.append((stats.step, sorted(round(v, 6) for v in stats.grad_norms.values())))
                super().observe_step(stats)

        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        writer = Probe(str(tmp_path / name))
        if watch:
            writer.watch(model, optimizer)
        _fit(writer, model, optimizer, torch.randn(64, 8), torch.randint(0, 3, (64,)), 21, log_first=log_first)
    assert [s for s, _ in seen["auto"]] == [0, 10, 20]
    assert seen["auto"] == seen["watch"]


def test_a_stacked_lstm_is_one_layer(tmp_path):
    """word_language_model's 2-layer LSTM between an embedding and a decoder: healthy, no
    vanishing_gradient (its fused per-layer ops make one layer, as the module does for watch())."""
    torch.manual_seed(0)
    embed, lstm, decoder = nn.Embedding(2000, 32), nn.LSTM(32, 32, num_layers=2), nn.Linear(32, 2000)
    params = [*embed.parameters(), *lstm.parameters(), *decoder.parameters()]
    optimizer = torch.optim.SGD(params, lr=1.0)
    writer = DiagWriter(str(tmp_path))
    tokens = torch.randint(0, 2000, (20, 8))
    for step in range(41):
        optimizer.zero_grad()
        out = decoder(lstm(embed(tokens[:-1]))[0])
        loss = nn.functional.cross_entropy(out.flatten(0, 1), tokens[1:].flatten())
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
    assert [e.kind for e in writer.events if e.kind in MODEL_KINDS] == []
    assert sum(1 for layer in {leaf.layer for leaf in leaves(loss.grad_fn)}) == 3


def test_a_step_the_optimizer_skips_is_not_reported(tmp_path):
    """Inf gradients whose update is skipped (as a GradScaler skips an overflow): no step for the
    detectors, as for watch(), whose steps are optimizer steps; the same inf applied is reported."""
    kinds = {}
    for skip in (True, False):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        writer = DiagWriter(str(tmp_path / str(skip)))
        x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
        for step in range(30):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            (loss * (float("inf") if step == 12 else 1.0)).backward()
            if not skip or all(torch.isfinite(p.grad).all() for p in model.parameters()):
                optimizer.step()
            writer.add_scalar("loss/train", loss, step)
        writer.close()
        kinds[skip] = [(e.step, e.kind) for e in writer.events if e.kind in MODEL_KINDS]
    assert kinds == {True: [], False: [(12, "nonfinite_gradient")]}


def test_a_sharded_models_freed_parameters_are_not_measured(tmp_path):
    """FSDP2's graph holds unsharded parameters whose storage is freed after backward (their
    gradients go to the sharded ones): nothing is measured, one info event says watch() does it."""
    torch.manual_seed(0)
    weight, bias = torch.randn(2, 4, requires_grad=True), torch.zeros(2, requires_grad=True)
    writer = DiagWriter(str(tmp_path))
    loss = nn.functional.linear(torch.randn(8, 4), weight, bias).square().mean()
    loss.backward()
    for p in (weight, bias):
        p.untyped_storage().resize_(0)  # what FSDP2's reshard does
    writer.add_scalar("loss/train", loss, 0)
    writer.close()
    assert [(e.kind, e.severity) for e in writer.events] == [("auto_watch", "info")]
    assert "FSDP" in writer.events[0].message and "watch(model, optimizer)" in writer.events[0].hint


def test_stop_on_error_stops_at_a_swap_only_error(tmp_path):
    """stop_on_error's DiagnosticError reaches the loop (raised by the next backward, once the
    step's gradients are known to be applied), naming step 7."""
    from tb_lossdiag import DiagnosticError

    with pytest.raises(DiagnosticError, match="nonfinite_gradient") as raised:
        _train(str(tmp_path), fault=_nan_hidden_gradient, stop_on_error=True)
    assert raised.value.event.step == 7


def test_a_new_head_extends_the_parameters(tmp_path):
    """From step 12 the loss goes through a new head: its graph is found (by the next sampled step)
    and a NaN gradient of the new head at step 25 is named."""
    torch.manual_seed(0)
    body, head_a, head_b = nn.Sequential(nn.Linear(8, 16), nn.ReLU()), nn.Linear(16, 3), nn.Linear(16, 3)
    params = [*body.parameters(), *head_a.parameters(), *head_b.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.05)
    writer = DiagWriter(str(tmp_path))
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    for step in range(30):
        optimizer.zero_grad()
        head = head_a if step < 12 else head_b
        loss = nn.functional.cross_entropy(head(body(x)), y)
        if step == 25:
            head_b.weight.register_hook(lambda grad: grad * float("nan"))
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
    (found,) = [e for e in writer.events if e.kind == "nonfinite_gradient"]
    assert found.step == 25
    assert found.message.endswith("1 of 4 parameters are NaN/Inf at step 25: 'param 5 (3x16, via AddmmBackward0)'")


@pytest.mark.parametrize("mode", ["swap-only", "swap-only without graph task ids", "watch"])
def test_a_zero_grad_dropped_late_in_a_calm_run_is_found_within_its_sampling_interval(tmp_path, monkeypatch, mode):
    """Past its start a calm run checks one backward in `interval` (80) for uncleared gradients: a
    loop that stops calling zero_grad() at step 500 is named within 80 steps, with every parameter;
    the same loop that keeps calling it is not (also without graph task ids: torch before 2.1)."""
    watch = mode == "watch"
    if mode == "swap-only without graph task ids":
        monkeypatch.setattr(auto, "_graph_task", auto._NO_TASK_IDS)
    for drops in (True, False):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
        writer = DiagWriter(str(tmp_path / str(drops)))
        if watch:
            writer.watch(model, optimizer)
        x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
        for step in range(600):
            if not (drops and step >= 500):
                optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            writer.add_scalar("loss/train", loss, step)
        writer.close()
        found = [e for e in writer.events if e.kind == "missing_zero_grad"]
        if drops:
            assert len(found) == 1 and 500 < found[0].step <= 580 and found[0].evidence["parameters"] == 4
        else:
            assert found == []


@pytest.mark.parametrize("where", ["log_first", "log_before_step", "after_step"])
def test_two_hooks_per_graph_still_check_every_parameter(tmp_path, where):
    """Eight layers (16 parameters), no zero_grad(): only two accumulators carry a pre-hook, yet
    missing_zero_grad comes at step 1 naming all 16, wherever the loss is logged, as with watch()."""
    found = {}
    for name in ("watch", "auto"):
        torch.manual_seed(0)
        model = nn.Sequential(*[m for _ in range(7) for m in (nn.Linear(16, 16), nn.Tanh())], nn.Linear(16, 3))
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
        writer = DiagWriter(str(tmp_path / name / where))
        if name == "watch":
            writer.watch(model, optimizer)
        _fit(writer, model, optimizer, torch.randn(64, 16), torch.randint(0, 3, (64,)), 4, zero_grad=False,
             log_first=where == "log_first", log_before_step=where == "log_before_step")
        found[name] = [(e.step, e.evidence["parameters"]) for e in writer.events if e.kind == "missing_zero_grad"]
    assert found["auto"] == found["watch"] == [(1, 16)]
