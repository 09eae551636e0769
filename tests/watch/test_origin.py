"""The NaN-origin search: the first place a step's NaN/Inf appeared (the input batch, a module's
output, the loss, a module's backward), found without changing the model."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from detectors.scenarios import batches, mlp, only
from tb_lossdiag import DiagWriter
from tb_lossdiag.watch.origin import find_origin


class Log(nn.Module):
    def forward(self, x):
        return torch.log(x)


class Sqrt(nn.Module):
    def forward(self, x):
        return torch.sqrt(x)


class LogInOwnCode(nn.Module):
    """torch.log in the model's own forward, between two of its layers."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(torch.log(self.fc1(x)))


class DictModel(nn.Module):
    """Keyword arguments in, a dict holding a tuple out (as Hugging Face models do)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.encoder = nn.Sequential(nn.Linear(8, 16), nn.Tanh())
        self.head = nn.Sequential(nn.Linear(16, 4), Log())

    def forward(self, x, *, scale):
        h = self.encoder(x * scale)
        return {"logits": self.head(h), "extra": (h, torch.zeros(2, dtype=torch.long))}


def _batch(rows=8, seed=0):
    return torch.randn(rows, 8, generator=torch.Generator().manual_seed(seed))


def test_nan_in_the_batch_names_the_argument_rows_and_columns():
    x = _batch()
    x[[3, 5], 2] = math.nan
    x[5, 6] = math.inf
    origin = find_origin(mlp(8, 16, 4), (x,))
    assert (origin.place, origin.name) == ("input", "input")
    assert origin.detail == "3 NaN/Inf of 64 values; rows 3, 5 of 8; columns 2, 6"


def test_a_module_making_nan_from_a_finite_input_is_named():
    """Linear outputs some negatives; the log module after it is the first to output NaN."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), Log(), nn.Linear(16, 4))
    origin = find_origin(model, (_batch(),))
    assert (origin.place, origin.name) == ("module", "1")
    assert origin.detail == "Log; its input was finite"


def test_nan_made_by_a_modules_own_code_names_that_module():
    """The log is no module: the NaN reaches fc2 through its input, so the model's own code made it."""
    origin = find_origin(LogInOwnCode(), (_batch(),))
    assert (origin.place, origin.name) == ("module", "")
    assert origin.detail.startswith("LogInOwnCode; its input was finite; made by its own code")
    assert "'fc2'" in origin.detail


def test_keyword_arguments_and_dict_outputs():
    origin = find_origin(DictModel(), (_batch(),), {"scale": torch.tensor(2.0)})
    assert (origin.place, origin.name) == ("module", "head.1")


def test_a_finite_forward_with_a_nonfinite_loss_names_the_loss_function():
    model, x, y, mask = mlp(8, 16, 4), _batch(), torch.arange(8) % 4, torch.zeros(8)
    loss = (F.cross_entropy(model(x), y, reduction="none") * mask).sum() / mask.sum()  # an empty mask: 0/0
    origin = find_origin(model, (x,), loss=loss)
    assert (origin.place, origin.name) == ("loss", "cross_entropy")
    assert origin.detail == "the model's output was finite, the loss was not; its graph holds a division"


def test_nan_made_only_in_backward_names_the_module():
    """sqrt at 0 (after a ReLU) is 0 forward and has an infinite derivative there."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), Sqrt(), nn.Linear(16, 4))
    origin = find_origin(model, (_batch(),), loss=torch.tensor(1.0))
    assert (origin.place, origin.name) == ("backward", "2")
    assert origin.detail == "Sqrt; the gradient at its output was finite"


class SqrtInOwnCode(LogInOwnCode):
    """sqrt at 0 in the model's own code: forward 0, an infinite derivative, and inf * 0 = NaN."""

    def forward(self, x):
        return self.fc2(torch.sqrt(self.fc1(x) * 0))


def test_nan_made_in_backward_by_a_modules_own_code_names_that_module():
    origin = find_origin(SqrtInOwnCode(), (_batch(),))
    assert (origin.place, origin.name) == ("backward", "")
    assert origin.detail == "SqrtInOwnCode; by its own code (no submodule); the gradient at its output was finite"


def test_a_nonfinite_gradient_from_the_loss_names_the_loss():
    """The gradient the loss sent into the model's output (kept by the caller) was already NaN."""
    model, x = mlp(8, 16, 4), _batch()
    out = model(x)
    loss = F.mse_loss(out, torch.zeros(8, 4)) + torch.sqrt((out - out).abs()).mean()
    (grad,) = torch.autograd.grad(loss, out)
    origin = find_origin(model, (x,), loss=loss, output_grads=[grad])
    assert origin.place == "loss" and "gradient the loss sent back" in origin.detail


class Recurrent(nn.Module):
    """An RNN whose hidden state the loop feeds back without detaching it, then sqrt at 0."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.rnn, self.fc = nn.RNN(8, 16, batch_first=True), nn.Linear(16, 4)

    def forward(self, x, h):
        out, h = self.rnn(x, h)
        return self.fc(torch.sqrt(out * 0)), h


def test_a_state_carried_from_the_last_step_does_not_break_the_search():
    """The last step's backward freed the graph the hidden state carries: the re-run starts from its values."""
    model, x = Recurrent(), torch.randn(2, 5, 8)
    out, h = model(x, torch.zeros(1, 2, 16))
    out.sum().backward()
    origin = find_origin(model, (x, h))
    assert (origin.place, origin.name) == ("backward", "")


def test_sparse_gradients_are_read():
    model = nn.Sequential(nn.Embedding(10, 4, sparse=True), Sqrt(), nn.Linear(4, 2))
    with torch.no_grad():
        model[0].weight[3] = 0.0
    origin = find_origin(model, (torch.tensor([[3, 3]]),))
    assert (origin.place, origin.name) == ("backward", "1")


def test_a_float16_overflow_is_found_under_the_steps_autocast():
    """Values ~1e5 overflow float16 (max 65504) in the first Linear under autocast; in float32 they do not."""
    model, x = mlp(8, 16, 4), _batch() * 1e5
    assert find_origin(model, (x,)) is None
    origin = find_origin(model, (x,), autocast=("cpu", torch.float16))
    assert (origin.place, origin.name) == ("module", "0")


def test_a_finite_step_has_no_origin():
    assert find_origin(mlp(8, 16, 4), (_batch(),), loss=1.0) is None


def test_the_search_leaves_the_model_as_it_was():
    """No buffer (BatchNorm's running statistics), no .grad, no RNG draw and no hook on the root
    (the watch's) changes; dropout runs in the re-run."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Dropout(0.5), Log(), nn.Linear(16, 4))
    model[0].weight.grad = torch.ones_like(model[0].weight)
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    root_calls = []
    model.register_forward_hook(lambda *a: root_calls.append(a))
    rng = torch.get_rng_state()
    origin = find_origin(model, (_batch(),))
    assert origin.name == "3"
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(torch.equal(b, buffers[name]) for name, b in model.named_buffers())
    assert torch.equal(model[0].weight.grad, torch.ones_like(model[0].weight))
    assert model[4].weight.grad is None and root_calls == []


def test_weights_already_nan_give_no_origin():
    """Called after optimizer.step() applied NaN gradients, every module would look guilty: no answer."""
    model = mlp(8, 16, 4)
    with torch.no_grad():
        model[0].weight[0, 0] = math.nan
    assert find_origin(model, (_batch(),)) is None


class Standardize(nn.Module):
    """(x - mean) / std over the batch: 0/0 = NaN when every row of the batch is the same."""

    def forward(self, x):
        return (x - x.mean(0)) / x.std(0)


def test_through_watch_the_event_names_the_module_and_the_step(logdir):
    """Step 6's batch repeats one row (finite data): the Standardize module makes 0/0. The
    guarded watch re-runs that step and names the module, not the Linear layers its NaN reached."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), Standardize(), nn.Tanh(), nn.Linear(16, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    data = batches(10, (32, 8), classes=4)
    data[6] = (data[6][0][:1].repeat(32, 1), data[6][1])
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer, guard=True)
    for step, (x, y) in enumerate(data):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
    event = only(writer.events, "nonfinite_origin")
    assert event.step == 6 and event.tag == "module 1"
    assert event.message == ("NaN/Inf first appeared in the output of '1' (Standardize; its input was finite) "
                             "at step 6")
