"""A two-rank Lightning DDP fit whose rank 1 shard holds a NaN at step argv[2] (run by test_lightning_ddp.py)."""

import os
import sys

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from test_lightning import BATCH, Regression
from tb_lossdiag.integrations.lightning import LossDiagCallback

STEPS = 6


def main(save_dir: str, nan_step: int) -> None:
    """Fit on gloo with an unshuffled sampler, so that the NaN row is rank 1's, at `nan_step`."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2 * STEPS * BATCH, 4, generator=g)
    y = x.sum(dim=1, keepdim=True)
    x[2 * BATCH * nan_step + 1, 1] = float("nan")  # odd rows are rank 1's
    data = TensorDataset(x, y)
    sampler = DistributedSampler(data, num_replicas=2, rank=int(os.environ["RANK"]), shuffle=False)
    trainer = pl.Trainer(
        accelerator="cpu", strategy="ddp", devices=2, max_steps=STEPS, log_every_n_steps=1,
        use_distributed_sampler=False, logger=TensorBoardLogger(save_dir), callbacks=[LossDiagCallback()],
        enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
    )
    trainer.fit(Regression(), DataLoader(data, batch_size=BATCH, sampler=sampler))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
