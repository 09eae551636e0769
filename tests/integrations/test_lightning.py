"""LossDiagCallback in a real Lightning Trainer on CPU: its findings land in the TensorBoardLogger's run."""

import pytest
import torch
import torch.nn.functional as F
import lightning.pytorch as pl
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag import DiagnosticError, DiagWriter, read_logdir
from tb_lossdiag.integrations.lightning import LossDiagCallback

STEPS = 12
BATCH = 16
NAN_STEP = 5
RUN = "lightning_logs/version_0"  # the TensorBoardLogger's run below its save_dir


class Regression(pl.LightningModule):
    """A small MLP that logs its losses the usual Lightning way."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


class EncoderDecoder(Regression):
    """Two submodules and no forward(): which one training_step feeds the batch to is not knowable."""

    def __init__(self):
        super().__init__()
        del self.net
        self.encoder = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())
        self.decoder = torch.nn.Linear(8, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.mse_loss(self.decoder(self.encoder(x)), y)


class SoftmaxClassifier(Regression):
    """Ends in nn.Softmax and trains with nll_loss: the loss is -p[target], negative, and does not train."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3),
                                       torch.nn.Softmax(dim=1))
        self.loss = F.nll_loss

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss(self.net(x), (y.squeeze(1) > 0).long())
        self.log("train_loss", loss)
        return loss


def _loader(nan_step=None):
    """STEPS batches of a learnable target; with `nan_step`, that batch holds one NaN."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(STEPS * BATCH, 4, generator=g)
    y = x.sum(dim=1, keepdim=True)
    if nan_step is not None:
        x[nan_step * BATCH + 3, 1] = float("nan")
    return DataLoader(TensorDataset(x, y), batch_size=BATCH)


def _fit(save_dir, train, callback=None, logger=None, val=None, model=None, accumulate=1):
    """Fit `model` (a Regression) for STEPS steps; the runs below save_dir, by name, with their loss curves."""
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=STEPS, log_every_n_steps=1, val_check_interval=4,
        accumulate_grad_batches=accumulate,
        logger=logger or TensorBoardLogger(save_dir), callbacks=[callback or LossDiagCallback()],
        enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
    )
    trainer.fit(model or Regression(), train, val)
    return {run.run: run for run in read_logdir(str(save_dir), loss_tags=lambda tag: "loss" in tag)}


def test_nan_batch_is_diagnosed_in_the_loggers_run(tmp_path):
    """The NaN batch: nonfinite_input from watch() and nonfinite_loss on what self.log logged, at its
    step, in the logger's own run, whose train_loss is written once per step."""
    runs = _fit(tmp_path, _loader(NAN_STEP))
    assert set(runs) == {RUN}
    events = runs[RUN].events
    assert min(event.step for event in events) == NAN_STEP
    at_nan = {(event.kind, event.tag) for event in events if event.step == NAN_STEP}
    assert {("nonfinite_loss", "train_loss"), ("nonfinite_loss", "training_step/loss")} <= at_nan
    assert "nonfinite_input" in {kind for kind, _ in at_nan}
    # Lightning's own `loss / accumulate_grad_batches` is not taken for a division by zero.
    assert "division_by_zero" not in {event.kind for event in events}
    assert [step for step, _, _ in runs[RUN].curves["train_loss"]] == list(range(STEPS))


@pytest.mark.parametrize("accumulate", [1, 2])
def test_loss_graph_checks_run_under_lightning(tmp_path, accumulate):
    """nn.Softmax into nll_loss, returned from training_step (which Lightning divides by
    accumulate_grad_batches): nll_on_probabilities at the first step; log_softmax: silent."""
    runs = _fit(tmp_path / "softmax", _loader(), model=SoftmaxClassifier(), accumulate=accumulate)
    found = [(e.kind, e.tag, e.step) for e in runs[RUN].events if e.kind == "nll_on_probabilities"]
    assert found == [("nll_on_probabilities", "training_step/loss", 0)]
    healthy = SoftmaxClassifier()
    healthy.net[-1] = torch.nn.LogSoftmax(dim=1)
    runs = _fit(tmp_path / "log_softmax", _loader(), model=healthy, accumulate=accumulate)
    assert [e.kind for e in runs[RUN].events if e.severity != "info"] == []


def test_healthy_module_raises_no_warning_or_error(tmp_path, recwarn):
    """Training and validation losses are diagnosed and nothing is flagged, not even at step 0."""
    runs = _fit(tmp_path, _loader(), val=_loader())
    run = runs[RUN]
    assert run.record_tags  # diagnosed by a DiagWriter
    assert [event.kind for event in run.events] == []
    assert {"train_loss", "val_loss", "training_step/loss"} <= set(run.curves)
    assert not [w for w in recwarn if "tb_lossdiag" in str(w.message)]


def test_module_with_several_submodules_is_named_by_the_user(tmp_path):
    """Encoder and decoder, no forward(): a warning asks for module=; without it the NaN batch is
    only inferred from the loss (likely, no argument named); with module="encoder" it is measured."""
    with pytest.warns(RuntimeWarning, match=r'LossDiagCallback\(module="<name>"\)'):
        runs = _fit(tmp_path / "guess", _loader(NAN_STEP), model=EncoderDecoder())
    inputs = [event for event in runs[RUN].events if event.kind == "nonfinite_input"]
    assert [(event.step, "inferred" in event.evidence) for event in inputs] == [(NAN_STEP, True)]
    runs = _fit(tmp_path / "named", _loader(NAN_STEP), LossDiagCallback(module="encoder"), model=EncoderDecoder())
    measured = {(event.kind, event.step) for event in runs[RUN].events if "inferred" not in event.evidence}
    assert ("nonfinite_input", NAN_STEP) in measured


def test_stop_on_error_stops_fit_at_the_nan_batch(tmp_path):
    """stop_on_error=True raises out of fit at the NaN batch; the finding is on disk."""
    with pytest.raises(DiagnosticError, match="nonfinite"):
        _fit(tmp_path, _loader(NAN_STEP), LossDiagCallback(stop_on_error=True))
    events = read_logdir(str(tmp_path))[0].events
    assert events and all(event.step == NAN_STEP for event in events)


def test_failing_watch_is_a_warning_and_training_goes_on(tmp_path, monkeypatch):
    """A failure inside the callback is one warning; the losses are still diagnosed."""
    def broken_watch(*args, **kwargs):
        raise RuntimeError("probe failed")

    monkeypatch.setattr(DiagWriter, "watch", broken_watch)
    with pytest.warns(RuntimeWarning, match="LossDiagCallback._watch failed .*probe failed"):
        runs = _fit(tmp_path, _loader(NAN_STEP))
    assert len(runs[RUN].curves["train_loss"]) == STEPS
    assert ("nonfinite_loss", NAN_STEP) in {(event.kind, event.step) for event in runs[RUN].events}


def test_trainer_without_tensorboard_logger_is_told_the_fix(tmp_path):
    """A CSVLogger only: a ValueError that names TensorBoardLogger, before any step."""
    with pytest.raises(ValueError, match="TensorBoardLogger"):
        _fit(tmp_path, _loader(), logger=CSVLogger(tmp_path))


def test_import_without_lightning_names_the_extra(import_without):
    """Without Lightning installed, the import error says which pip command fixes it."""
    with pytest.raises(ImportError, match=r'pip install "tb_lossdiag\[lightning\]"'):
        import_without("tb_lossdiag.integrations.lightning", "lightning")
