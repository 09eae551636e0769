"""wekws's Executor.train(): backward, clip and step every batch, optimizer.zero_grad() never called."""
# source: https://github.com/wenet-e2e/wekws/pull/73
# root: missing_zero_grad

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import clip_grad_norm_

from tb_lossdiag import DiagWriter

EXPECT = ("missing_zero_grad",)
ALLOW = ("loss_oscillation", "loss_divergence", "exploding_gradient", "loss_spike")  # its usual consequences
ONSET = 1  # the second backward adds onto the first step's gradients
STEPS = 150


def cross_entropy(logits, target, lengths, min_duration=0):
    """wekws's CE criterion: one keyword label per utterance, from the last frame's logits."""
    loss = F.cross_entropy(logits[:, -1, :], target)
    acc = (logits[:, -1, :].argmax(1) == target).float().mean().item()
    return loss, acc


criterion_dict = {'CE': cross_entropy}


class KWSModel(nn.Module):
    """wekws's GRU backbone and linear classifier on 40-dim fbank features."""

    def __init__(self, idim=40, hdim=64, odim=3):
        super().__init__()
        self.backbone = nn.GRU(idim, hdim, batch_first=True)
        self.classifier = nn.Linear(hdim, odim)

    def forward(self, x):
        x, _ = self.backbone(x)
        return self.classifier(x)


class Executor:
    def __init__(self):
        self.step = 0

    def train(self, model, optimizer, data_loader, device, writer, args):
        ''' Train one epoch
        '''
        model.train()
        clip = args.get('grad_clip', 50.0)
        min_duration = args.get('min_duration', 0)
        criterion = criterion_dict[args.get('criterion', 'CE')]

        for batch_idx, batch in enumerate(data_loader):
            key, feats, target, feats_lengths = batch
            feats = feats.to(device)
            target = target.to(device)
            feats_lengths = feats_lengths.to(device)
            num_utts = feats_lengths.size(0)
            if num_utts == 0:
                continue
            logits = model(feats)
            loss, acc = criterion(logits, target, feats_lengths, min_duration)
            loss.backward()
            grad_norm = clip_grad_norm_(model.parameters(), clip)
            if torch.isfinite(grad_norm):
                optimizer.step()
            writer.add_scalar('train_loss', loss, self.step)
            self.step += 1


def keyword_batches(n, g):
    """(keys, fbank [32, 50, 40], keyword label, lengths): each keyword shifts some feature bands."""
    batches = []
    bands = torch.randn(3, 40, generator=g)
    for _ in range(n):
        target = torch.randint(0, 3, (32,), generator=g)
        feats = torch.randn(32, 50, 40, generator=g) + bands[target][:, None, :]
        batches.append((None, feats, target, torch.full((32,), 50)))
    return batches


def run(logdir: str, steps: int = STEPS) -> None:
    torch.manual_seed(0)
    data_loader = keyword_batches(steps, torch.Generator().manual_seed(0))
    model = KWSModel()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    writer = DiagWriter(logdir)
    Executor().train(model, optimizer, data_loader, "cpu", writer, {'grad_clip': 5, 'criterion': 'CE'})
    writer.close()
