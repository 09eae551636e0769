"""A KL-style term guarded with torch.where(target > 0, target * log(target / pred), 0): finite loss, NaN gradients."""
# root: nonfinite_gradient

import torch
from torch import nn
from torch.nn import functional as F

from ._common import blobs, fit, minibatches, split

EXPECT = ("nonfinite_gradient", "nonfinite_loss")
ALLOW = ("nonfinite_activation", "log_of_nonpositive", "division_by_zero")
ONSET = 0


def soft_target_kl(logits, target_probs):
    pred = F.softmax(logits, dim=1)
    terms = torch.where(target_probs > 0, target_probs * torch.log(target_probs / pred), torch.zeros_like(pred))
    return terms.sum(dim=1).mean()


def run(logdir: str) -> None:
    torch.manual_seed(0)
    x, y = blobs(classes=4, seed=33)
    soft = F.one_hot(y, 4).float() * 0.9
    soft[:, 0] += 0.1  # label smoothing onto class 0 only: other classes keep exact zeros
    train, val = split(x, soft)
    model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    fit(logdir, model, optimizer, soft_target_kl, minibatches(*train), val, steps=100)
