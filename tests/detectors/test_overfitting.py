"""overfitting: validation loss rises while the training loss of the same family keeps falling."""

import numpy as np
import torch
import torch.nn.functional as F

from curve_helpers import classification, decay, feed_pair, fit, kinds, mlp, noisy
from tb_lossdiag.detectors.curve import family
from tb_lossdiag.detectors.overfitting import Overfitting


def _curves(n=600, turn=250, seed=0):
    """Training falls throughout; validation falls until `turn`, then climbs 0.5% a step."""
    train = noisy(decay(n, tau=100, floor=0.05), 0.1, seed)
    val = decay(n, tau=100, floor=0.3)
    val[turn:] = val[turn] * 1.005 ** np.arange(n - turn)
    return train, noisy(val, 0.02, seed + 1)


def test_scripted_rising_validation_is_reported_within_50_steps():
    """Validation turns up at step 250 while training falls: one warning soon after, with numbers."""
    train, val = _curves()
    events = feed_pair(Overfitting(), train, val[4::5], val_every=5)
    assert events, "validation loss rose 2x while training fell, unreported"
    first = events[0]
    assert first.kind == "overfitting" and first.severity == "warning" and first.tag == "loss/val"
    assert 250 < first.step <= 300
    assert "validation loss rose from" in first.message and "training loss fell" in first.message
    assert "early stopping" in first.hint
    assert len([e for e in events if "still" not in e.message]) == 1


def test_validation_tracking_training_is_quiet():
    """Validation noisily following training down (and flat at the end) never fires."""
    for seed in range(4):
        train = noisy(decay(2000, tau=200), 0.2, seed)
        val = noisy(decay(2000, tau=200, floor=0.25), 0.05, seed + 10)
        assert feed_pair(Overfitting(), train, val[9::10], val_every=10) == []


def test_both_rising_is_not_overfitting():
    """If training rises too, the problem is the optimizer, not generalization."""
    train = np.concatenate([decay(200, tau=50), np.linspace(0.2, 1.0, 200)])
    val = np.concatenate([decay(200, tau=50, floor=0.3), np.linspace(0.3, 1.2, 200)])
    assert feed_pair(Overfitting(), train, val[4::5], val_every=5) == []


def test_tag_families_pair_train_and_validation():
    """loss/train~loss/val, train_loss~val_loss, Loss/Train~Loss/Eval pair up; other families don't."""
    assert family("loss/train") == family("loss/val") == family("loss") == "loss"
    assert family("train_loss") == family("val_loss")
    assert family("Loss/Train") == family("Loss/Eval")
    assert family("recon_loss/train") != family("kl_loss/val")


def test_big_mlp_memorizing_a_tiny_noisy_dataset(tmp_path):
    """A 256-unit MLP on 32 samples with half the labels random: val loss climbs, train falls."""
    torch.manual_seed(0)
    model = mlp(10, 256, 3)
    train = classification(32, label_noise=0.5, seed=3)
    val = classification(256, seed=4)
    writer = fit(tmp_path, model, train, F.cross_entropy,
                 torch.optim.Adam(model.parameters(), lr=1e-2), steps=200, val=val, val_every=5)
    events = kinds(writer.events, "overfitting")
    assert events and events[0].tag == "loss/val"
    assert events[0].evidence["val"] > events[0].evidence["best_val"]
    assert events[0].evidence["train"] < events[0].evidence["train_at_best"]
    assert len([e for e in events if "still" not in e.message]) == 1
    assert kinds(writer.events, "loss_divergence") == []


def test_a_converged_validation_loss_wiggling_is_not_overfitting():
    """Validation fell from 1.1 to 0.0074 and drifts up to 0.0093 (+26%, 0.2% of its fall): quiet."""
    train = noisy(decay(300, start=1.1, floor=5e-4, tau=15), 0.3)
    val = np.r_[decay(12, start=1.1, floor=0.0074, tau=2), np.linspace(0.0074, 0.0093, 18)]
    assert feed_pair(Overfitting(), train, val, val_every=10) == []
