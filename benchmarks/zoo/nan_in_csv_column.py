"""A missing value survived the CSV round trip as NaN in one feature of one row."""
# root: nonfinite_input

import torch
from torch import nn

from ._common import fit, linear_targets, minibatches, split

BAD_ROW, BATCH = 261, 32
EXPECT = ("nonfinite_input", "nonfinite_loss")
ALLOW = ("nonfinite_activation", "nonfinite_gradient")  # the NaN flows on through the model
ONSET = BAD_ROW // BATCH  # batches are taken in order: the NaN row arrives in batch 8


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = linear_targets()
    x[BAD_ROW, 2] = float("nan")  # pd.read_csv left an empty cell as NaN; nobody called df.isna()
    train, val = split(x, y)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    fit(logdir, model, optimizer, nn.MSELoss(), minibatches(*train, batch=BATCH, loader=False), val)
