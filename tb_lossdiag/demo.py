"""The demo gallery: small CPU training runs, one per classic loss failure, plus healthy ones."""

import dataclasses
import os
import shutil
import time
from typing import Callable, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from tb_lossdiag.writer import DiagWriter

BATCH = 32


def _classification(n=512, features=8, classes=3, seed=0):
    """Gaussian blobs: a learnable, normalized classification problem."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, features, generator=g) * 2
    y = torch.randint(0, classes, (n,), generator=g)
    x = centers[y] + torch.randn(n, features, generator=g)
    return x, y


def _regression(n=512, features=8, seed=0, noise=0.1):
    """A noisy linear target: a learnable, normalized regression problem."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = x @ torch.randn(features, 1, generator=g) + noise * torch.randn(n, 1, generator=g)
    return x, y


def _mlp(features=8, out=3, hidden=32, head: Optional[nn.Module] = None):
    layers = [nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, out)]
    return nn.Sequential(*layers, *([head] if head is not None else []))


def _mape(pred, target):
    """Mean absolute percentage error, written without an eps (the classic division by zero)."""
    return ((pred - target).abs() / target.abs()).mean()


@dataclasses.dataclass
class Scenario:
    """One demo run: a model, its data, its loss and optimizer, and the bug it carries."""

    name: str
    what: str
    data: Callable
    model: Callable
    loss: Callable
    optimizer: Callable
    expect: tuple = ()  # the kinds of warning or error it must raise; () for a healthy run
    steps: int = 300
    zero_grad: bool = True
    validate: bool = True


def _sgd(lr, momentum=0.0):
    return lambda params: torch.optim.SGD(params, lr=lr, momentum=momentum)


def _adam(lr=1e-2):
    return lambda params: torch.optim.Adam(params, lr=lr)


def _with_nan_rows(make, rows):
    def data():
        x, y = make()
        x[rows, 2] = float("nan")  # a missing value that survived a CSV round trip
        return x, y
    return data


def _unnormalized():
    x, y = _regression()
    return x * 1000 + 5000, y  # raw feature units (e.g. square feet), never standardized


def _zero_targets():
    x, y = _regression()
    y[::50] = 0.0  # some targets are exactly zero
    return x, y


def _tiny_noisy():
    x, y = _classification(n=96, features=8, seed=3)
    y[::2] = torch.randint(0, 3, (48,), generator=torch.Generator().manual_seed(4))  # label noise
    return x, y


SCENARIOS = (
    Scenario("healthy_classifier", "Adam, CrossEntropyLoss on logits", _classification,
             lambda: _mlp(), nn.CrossEntropyLoss(), _adam()),
    Scenario("healthy_regression", "momentum SGD on a normalized regression", _regression,
             lambda: _mlp(out=1), nn.MSELoss(), _sgd(0.02, momentum=0.9)),
    Scenario("nan_in_data", "a NaN left in the data (a missing value after a CSV round trip)",
             _with_nan_rows(_regression, [261]), lambda: _mlp(out=1), nn.MSELoss(), _adam(),
             expect=("nonfinite_input", "nonfinite_loss")),
    Scenario("lr_too_high", "SGD with lr=0.5 on a regression: the loss diverges", _regression,
             lambda: _mlp(out=1), nn.MSELoss(), _sgd(0.5), expect=("loss_divergence",)),
    Scenario("lr_too_low", "SGD with lr=1e-6: the loss never falls", _classification,
             lambda: _mlp(), nn.CrossEntropyLoss(), _sgd(1e-6), steps=500, expect=("loss_plateau",)),
    Scenario("missing_zero_grad", "optimizer.zero_grad() forgotten: gradients pile up", _classification,
             lambda: _mlp(), nn.CrossEntropyLoss(), _sgd(0.05), zero_grad=False,
             expect=("missing_zero_grad",)),
    Scenario("nll_on_softmax", "F.nll_loss on nn.Softmax output: the loss is negative", _classification,
             lambda: _mlp(head=nn.Softmax(dim=1)), F.nll_loss, _adam(),
             expect=("nll_on_probabilities", "negative_loss")),
    Scenario("unnormalized_input", "features in the thousands, never normalized", _unnormalized,
             lambda: _mlp(out=1), nn.MSELoss(), _adam(1e-3), expect=("unnormalized_input",)),
    Scenario("division_by_zero", "a MAPE loss with zero targets and no eps", _zero_targets,
             lambda: _mlp(out=1), _mape, _adam(), expect=("division_by_zero",)),
    Scenario("overfitting", "a wide MLP memorizing 72 noisy samples", _tiny_noisy,
             lambda: _mlp(hidden=256), nn.CrossEntropyLoss(), _adam(3e-3), steps=400,
             expect=("overfitting",)),
)


def train(scenario: Scenario, logdir: str) -> DiagWriter:
    """Train one scenario with DiagWriter and watch(), logging train (and val) loss."""
    torch.manual_seed(0)
    x, y = scenario.data()
    split = len(x) * 3 // 4
    (x_train, y_train), (x_val, y_val) = (x[:split], y[:split]), (x[split:], y[split:])
    model = scenario.model()
    optimizer = scenario.optimizer(model.parameters())
    writer = DiagWriter(os.path.join(logdir, scenario.name))
    writer.add_text("scenario", scenario.what)
    writer.watch(model, optimizer)
    batches = len(x_train) // BATCH
    for step in range(scenario.steps):
        i = step % batches * BATCH
        model.train()
        if scenario.zero_grad:
            optimizer.zero_grad()
        loss = scenario.loss(model(x_train[i:i + BATCH]), y_train[i:i + BATCH])
        loss.backward()
        optimizer.step()
        writer.add_scalar("loss/train", loss, step)
        if scenario.validate and step % 10 == 9:
            model.eval()
            with torch.no_grad():
                writer.add_scalar("loss/val", scenario.loss(model(x_val), y_val), step)
    writer.close()
    return writer


def write_gallery(logdir: str, only: Optional[Sequence[str]] = None) -> None:
    """Train every scenario (or those named in `only`) into its own run below `logdir`."""
    names = [s.name for s in SCENARIOS]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise ValueError(f"unknown demo scenario(s) {unknown}; choose from {names}")
    for scenario in SCENARIOS:
        if only and scenario.name not in only:
            continue
        run_dir = os.path.join(logdir, scenario.name)
        # Only a directory of event files (what an earlier demo wrote) is removed, nothing else.
        if os.path.isdir(run_dir) and all("tfevents" in f for f in os.listdir(run_dir)):
            shutil.rmtree(run_dir)
        train(scenario, logdir)


def serve(logdir: str, port: int, host: str) -> int:
    """Start TensorBoard on `logdir` and print the Loss Diagnostics URL; Ctrl-C stops it."""
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(argv=[None, "--logdir", logdir, "--port", str(port), "--host", host])
    url = board.launch()
    print(f"Loss Diagnostics: {url}#lossdiag   (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
