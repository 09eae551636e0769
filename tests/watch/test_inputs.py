"""watch()'s inputs probe: a NaN batch is named at its own step, sampled or not, and no batch
outlives its step."""

import gc
import math
import weakref

import torch
import torch.nn.functional as F

from detectors.scenarios import batches, mlp
from tb_lossdiag import DiagWriter


def _run(logdir, data, every=10):
    """Train on `data`, each batch made inside the model call (as `model(x[i:j])` or
    `model(x.to(device))` make it): (the StepStats seen, the events, the model's watch handle)."""
    model = mlp(8, 16, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    writer = DiagWriter(logdir)
    seen = []
    observe = writer.observe_step
    writer.observe_step = lambda stats: (seen.append(stats), observe(stats))
    writer.watch(model, optimizer, every=every)
    for step, (x, y) in enumerate(data):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x * 1.0), y)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
    return seen, writer.events


def test_a_nan_batch_at_an_unsampled_step_is_named_at_that_step(logdir):
    """Step 13 (not sampled) holds NaN in column 2 of rows 3 and 5: the event is at step 13 and
    names the argument, the rows and the column."""
    data = batches(20, (8, 8), classes=4)
    x = data[13][0].clone()
    x[[3, 5], 2] = math.nan
    data[13] = (x, data[13][1])
    seen, events = _run(logdir, data)
    found = [e for e in events if e.kind == "nonfinite_input"]
    assert found and found[0].step == 13 and found[0].tag == "input input"
    assert found[0].evidence["column"] == 2 and found[0].evidence["count"] == 2
    (inp,) = next(s for s in seen if s.step == 13).inputs
    assert not next(s for s in seen if s.step == 13).sampled
    assert inp.bad_columns == ((2, 2),) and inp.bad_row_count == 2 and inp.bad_rows == ((3, 1), (5, 1))


def test_a_clean_run_names_no_input(logdir):
    seen, events = _run(logdir, batches(20, (8, 8), classes=4))
    assert [e for e in events if e.kind == "nonfinite_input"] == []
    assert all(inp.bad_rows == () for s in seen for inp in s.inputs)


def test_no_batch_outlives_its_step(logdir):
    """An unsampled CPU step holds its inputs only until optimizer.step() ends it."""
    model = mlp(8, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, every=10)
    refs = []
    for x, y in batches(3, (8, 8), classes=4):
        batch = x * 1.0
        refs.append(weakref.ref(batch))
        optimizer.zero_grad()
        F.cross_entropy(model(batch), y).backward()
        optimizer.step()
        del batch
    gc.collect()
    assert [r() is None for r in refs] == [True, True, True]
    writer.close()


class _Recurrent(torch.nn.Module):
    """One step of an RNN cell: the hidden state it returns is fed back as an argument."""

    def __init__(self):
        super().__init__()
        self.cell = torch.nn.Linear(8 + 16, 16)
        self.out = torch.nn.Linear(16, 4)

    def forward(self, input, hidden):
        hidden = torch.tanh(self.cell(torch.cat((input, hidden), 1))) * 50  # a hidden state far from unit scale
        return self.out(hidden), hidden


def test_a_hidden_state_fed_back_is_not_data(logdir):
    """The hidden state returned by the model and passed back in carries a grad_fn: it is the
    model's, not the data, so its scale and NaN are never read as the batch's; the batch still is."""
    model = _Recurrent()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    writer = DiagWriter(logdir)
    seen = []
    observe = writer.observe_step
    writer.observe_step = lambda stats: (seen.append(stats), observe(stats))
    writer.watch(model, optimizer, every=1)
    for step, (x, y) in enumerate(batches(6, (2, 8), classes=4)):
        optimizer.zero_grad()
        hidden = torch.zeros(2, 16)  # data at the first call, the model's output at the next two
        for _ in range(3):
            output, hidden = model(x * 100, hidden)  # the data itself is unnormalized
        F.cross_entropy(output, y).backward()
        optimizer.step()
        writer.add_scalar("loss/train", output.sum(), step)
    writer.close()
    assert [inp.name for inp in seen[0].inputs] == ["input", "hidden", "input", "input"]
    kinds = {(e.kind, e.tag) for e in writer.events}
    assert ("unnormalized_input", "input input") in kinds and ("unnormalized_input", "input hidden") not in kinds


def test_a_hidden_state_fed_back_is_state_not_data(logdir):
    """The hidden state the model returned, detached and fed back, goes NaN after a NaN batch broke
    the weights: only the batch is named (at its step), never the hidden state; a NaN hidden state
    the user made himself (not returned by the model) is named."""
    torch.manual_seed(0)
    for start_nan in (False, True):
        model = _Recurrent()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        writer = DiagWriter(f"{logdir}/{start_nan}")
        writer.watch(model, optimizer, every=1)
        hidden = torch.full((4, 16), math.nan) if start_nan else torch.zeros(4, 16)
        for step, (x, y) in enumerate(batches(8, (4, 8), classes=4)):
            if step == 3 and not start_nan:
                x = x.clone()
                x[0, 0] = math.nan
            optimizer.zero_grad()
            logits, hidden = model(x, hidden)
            loss = F.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
            hidden = hidden.detach()
            writer.add_scalar("loss/train", loss, step)
        writer.close()
        named = [(e.step, e.tag) for e in writer.events if e.kind == "nonfinite_input"]
        assert named == ([(0, "input hidden")] if start_nan else [(3, "input input")]), named
