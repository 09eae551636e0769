"""float16 autocast + GradScaler on a hand-written pairwise distance: sqrt'(0) on the diagonal makes every gradient NaN, so the scaler skips every step."""
# root: grad_scale_collapse

import torch
from torch import nn

from tb_lossdiag import DiagWriter

from ._common import blobs, minibatches

EXPECT = ("grad_scale_collapse",)
ALLOW = ("loss_plateau",)  # no step is ever taken: the loss is flat as well
ONSET = 0


def run(logdir: str) -> None:
    torch.manual_seed(0)
    batches = minibatches(*blobs(seed=41, features=16, classes=4))
    encoder = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 16))
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler("cpu")
    writer = DiagWriter(logdir)
    writer.watch(encoder, optimizer, scaler=scaler)
    for step in range(200):
        inputs, labels = next(batches)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.float16):
            embeddings = encoder(inputs)
            distances = ((embeddings[:, None] - embeddings[None]) ** 2).sum(-1).sqrt()
            same = (labels[:, None] == labels[None]).float()
            # Pull same-class embeddings together, push others at least 1 apart.
            loss = (same * distances + (1 - same) * torch.relu(1 - distances)).mean()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        writer.add_scalar("loss/train", loss, step)
    writer.close()
