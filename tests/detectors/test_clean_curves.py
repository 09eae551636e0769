"""Clean training, as users run it, raises no warning or error from any default detector."""

import math

import pytest
import torch
import torch.nn.functional as F

from curve_helpers import classification, fit, mlp, problems, regression


def _classifier(hidden=32, dropout=0.0):
    torch.manual_seed(0)
    return mlp(10, hidden, 3, dropout=dropout)


def _warmup_cosine(optimizer, warmup, total):
    """Linear warmup then cosine decay, as LambdaLR."""
    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _noisy_sgd(tmp_path):
    model = _classifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return fit(tmp_path, model, classification(label_noise=0.1), F.cross_entropy, opt, 600, batch=16)


def _momentum_sgd_long_floor(tmp_path):
    model = _classifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    return fit(tmp_path, model, classification(), F.cross_entropy, opt, 1000, batch=32)


def _adam(tmp_path):
    model = _classifier()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    return fit(tmp_path, model, classification(), F.cross_entropy, opt, 500, batch=32)


def _warmup_cosine_run(tmp_path):
    model = _classifier(64)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    sched = _warmup_cosine(opt, 50, 600)
    return fit(tmp_path, model, classification(label_noise=0.05), F.cross_entropy, opt, 600, batch=32,
               scheduler=sched)


def _step_lr(tmp_path):
    model = _classifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.5)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=200, gamma=0.1)
    return fit(tmp_path, model, classification(), F.cross_entropy, opt, 600, batch=32, scheduler=sched)


def _dropout(tmp_path):
    model = _classifier(64, dropout=0.3)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    return fit(tmp_path, model, classification(), F.cross_entropy, opt, 500, batch=32)


def _small_batches(tmp_path):
    model = _classifier()
    opt = torch.optim.SGD(model.parameters(), lr=0.02)
    return fit(tmp_path, model, classification(label_noise=0.1), F.cross_entropy, opt, 800, batch=4)


def _regression_to_its_floor(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(5, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    return fit(tmp_path, model, regression(noise=0.01), F.mse_loss, opt, 800, batch=8)


def _train_and_val_tracking(tmp_path):
    model = _classifier(32, dropout=0.1)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    data = classification(1024, label_noise=0.1, seed=5)
    train = (data[0][:768], data[1][:768])
    val = (data[0][768:], data[1][768:])
    return fit(tmp_path, model, train, F.cross_entropy, opt, 600, batch=32, val=val, val_every=10)


RUNS = [_noisy_sgd, _momentum_sgd_long_floor, _adam, _warmup_cosine_run, _step_lr, _dropout,
        _small_batches, _regression_to_its_floor, _train_and_val_tracking]


@pytest.mark.parametrize("run", RUNS, ids=[r.__name__.strip("_") for r in RUNS])
def test_clean_run_raises_no_warning(tmp_path, run):
    """A healthy run: whatever info notes, never a warning or an error."""
    writer = run(tmp_path)
    assert problems(writer.events) == [], [f"{e.step} {e.kind}: {e.message}" for e in writer.events]


def test_exact_zeros_negatives_and_constants_never_break_a_detector(tmp_path):
    """A CE loss that underflows to 0.0, a loss that may go negative, a constant: no diagnostic_failure."""
    import numpy as np

    from tb_lossdiag import DiagWriter

    curves = {
        "loss/zero/train": np.r_[np.linspace(1.0, 0.01, 100), np.zeros(200)],
        "loss/elbo/train": np.linspace(5.0, -5.0, 300),
        "loss/const/train": np.full(300, 0.7),
    }
    writer = DiagWriter(str(tmp_path))
    for tag, values in curves.items():
        for step, value in enumerate(values):
            writer.add_scalar(tag, float(value), step)
            if step % 10 == 9:
                writer.add_scalar(tag.replace("train", "val"), float(value), step)
    writer.close()
    assert [e for e in writer.events if e.kind == "diagnostic_failure"] == []
