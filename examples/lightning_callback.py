"""LossDiagCallback in a PyTorch Lightning Trainer: a learning rate far too high.

    pip install "tb_lossdiag[lightning]"
    python examples/lightning_callback.py [LOGDIR]   (default: runs/lightning)
    tensorboard --logdir runs/lightning              (the Loss Diagnostics tab, beside Lightning's scalars)

The diagnostics go into the TensorBoardLogger's own run (LOGDIR/lightning_logs/version_N).
Expected: loss_divergence and exploding_gradient within the first steps, then inf/NaN losses.
"""

import sys

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader, TensorDataset

from tb_lossdiag.integrations.lightning import LossDiagCallback


class Regression(pl.LightningModule):
    """A small MLP on a linear target, trained with plain SGD at learning rate `lr`."""

    def __init__(self, lr: float):
        super().__init__()
        self.lr = lr
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.mse_loss(self.net(x), y)
        self.log("train_loss", loss)  # written by the logger, diagnosed on the way
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def main(logdir: str) -> None:
    """Fit for 60 steps with lr=0.5, validating every 20."""
    torch.manual_seed(0)
    x = torch.randn(2048, 8)
    y = x @ torch.randn(8, 1)
    train = DataLoader(TensorDataset(x[:1920], y[:1920]), batch_size=32)
    val = DataLoader(TensorDataset(x[1920:], y[1920:]), batch_size=128)
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=60, val_check_interval=20, log_every_n_steps=1,
        logger=TensorBoardLogger(logdir), callbacks=[LossDiagCallback()],
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(Regression(lr=0.5), train, val)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/lightning")
