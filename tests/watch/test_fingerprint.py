"""Fingerprint: a parameter no update touched is named; one an update moved below what its norm and
sum resolve is not."""

import torch

from tb_lossdiag.watch.fingerprint import Fingerprint


def _sample(fingerprint, params, grad_norms):
    """Compare `params` as a sampled step would: float32 norms, sums and version counters."""
    norms = [torch.linalg.vector_norm(p).item() for p in params]
    sums = [p.sum(dtype=torch.float32).item() for p in params]
    return fingerprint.compare(norms, sums, grad_norms, [p._version for p in params])


def test_an_update_too_small_for_norm_and_sum_is_no_frozen_parameter():
    """A 2-value bias that trained, then moved by one float32 step each way (as a 2-class softmax
    bias's updates at a decayed learning rate do): its norm and sum come out identical, yet it
    changed and an update ran on it. A parameter no update touches beside it is named each time."""
    bias, left_out, weight = torch.tensor([0.15, 0.2]), torch.ones(3), torch.zeros(4)
    fingerprint = Fingerprint(["bias", "left_out", "weight"], [2, 3, 4])
    grads = {"bias": 1.0, "left_out": 1.0, "weight": 1.0}
    assert _sample(fingerprint, [bias, left_out, weight], grads) == (False, ())
    bias.add_(torch.tensor([0.01, -0.01]))
    weight.add_(0.1)
    assert _sample(fingerprint, [bias, left_out, weight], grads) == (False, ("left_out",))
    before = bias.clone()
    ulp = torch.finfo(torch.float32).eps / 8  # one float32 step between 0.125 and 0.25
    bias.add_(torch.tensor([ulp, -ulp]))
    weight.add_(0.1)
    assert not torch.equal(bias, before)
    assert torch.linalg.vector_norm(bias).item() == torch.linalg.vector_norm(before).item()
    assert bias.sum().item() == before.sum().item()
    assert _sample(fingerprint, [bias, left_out, weight], grads) == (False, ("left_out",))


def test_a_parameter_updates_never_changed_is_named():
    """An lr of 0 for one parameter from the start: updates run on it (its version changes) but its
    values never do, while the other's do."""
    frozen, weight = torch.ones(2), torch.zeros(2)
    fingerprint = Fingerprint(["frozen", "weight"], [2, 2])
    grads = {"frozen": 1.0, "weight": 1.0}
    _sample(fingerprint, [frozen, weight], grads)
    for _ in range(2):
        frozen.add_(0.0)
        weight.add_(0.1)
        assert _sample(fingerprint, [frozen, weight], grads) == (False, ("frozen",))


def test_without_versions_a_still_parameter_with_a_large_gradient_is_named():
    """Weights changed through .data bump no version: the norms and sums decide, for a parameter
    whose gradient (per value) is at least that of one that moved; one with a smaller gradient is
    not named (an update too small to move it)."""
    small, large, moving = torch.ones(2), torch.ones(2), torch.zeros(2)
    fingerprint = Fingerprint(["small", "large", "moving"], [2, 2, 2])
    grads = {"small": 1e-3, "large": 2.0, "moving": 1.0}
    _sample(fingerprint, [small, large, moving], grads)
    moving.data.add_(1.0)
    assert _sample(fingerprint, [small, large, moving], grads) == (False, ("large",))


def test_nothing_moved_at_all_is_told_apart():
    """Every norm and sum identical (an lr of 0 everywhere): exactly no update, no names."""
    params = [torch.ones(2), torch.zeros(3)]
    fingerprint = Fingerprint(["a", "b"], [2, 3])
    _sample(fingerprint, params, {"a": 1.0, "b": 1.0})
    for p in params:
        p.mul_(1.0)
    assert _sample(fingerprint, params, {"a": 1.0, "b": 1.0}) == (True, ())
