"""LossDiagCallback in a transformers Trainer: one NaN in the data, which the Trainer's own log hides.

    pip install "tb_lossdiag[huggingface]"
    python examples/huggingface_trainer.py [LOGDIR]   (default: runs/huggingface)
    tensorboard --logdir runs/huggingface             (the Loss Diagnostics tab, beside the Trainer's scalars)

The callback is the Trainer's TensorBoard logging (keep "tensorboard" out of report_to): its run is
LOGDIR/runs/<date>_<host>. The Trainer logs a NaN loss as the mean of the finite ones since its
last log (logging_nan_inf_filter), so its loss curve shows no NaN; watch() sees the NaN batch itself.
Expected: nonfinite_input at the step that drew the bad row (the Trainer shuffles).
"""

import sys

import torch
import torch.nn.functional as F
from transformers import Trainer, TrainingArguments

from tb_lossdiag.integrations.huggingface import LossDiagCallback


class Regression(torch.nn.Module):
    """A small MLP returning {"loss", "logits"}, as the Trainer expects of a model given labels."""

    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))

    def forward(self, x, labels=None):
        out = self.net(x)
        return {"loss": F.mse_loss(out, labels), "logits": out}


def main(logdir: str) -> None:
    """Train for 40 steps, logging every step."""
    torch.manual_seed(0)
    x = torch.randn(1280, 8)
    y = x @ torch.randn(8, 1)
    x[500, 3] = float("nan")
    rows = [{"x": xi, "labels": yi} for xi, yi in zip(x, y)]
    args = TrainingArguments(
        output_dir=logdir, max_steps=40, per_device_train_batch_size=32, learning_rate=0.01,
        logging_steps=1, report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True,
    )
    Trainer(model=Regression(), args=args, train_dataset=rows, callbacks=[LossDiagCallback()]).train()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/huggingface")
