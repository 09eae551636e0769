"""The gradient probes work on bare (name, parameter) pairs, with no nn.Module, and before
optimizer.step() as well as after it."""

import math

import torch

from tb_lossdiag import stats as S
from tb_lossdiag.watch.gradients import GradientProbe
from tb_lossdiag.watch.parameters import Parameters
from tb_lossdiag.watch.record import StepRecord


def _parameters():
    """Parameters of a hand-written computation (no module), with gradients from one backward."""
    torch.manual_seed(0)
    w, b = torch.randn(4, 3, requires_grad=True), torch.zeros(3, requires_grad=True)
    (torch.randn(5, 4) @ w + b).square().mean().backward()
    return Parameters([("w", w), ("b", b)], torch.optim.SGD([w, b], lr=0.1))


def _read(record):
    record.values = S.to_host(record.tensors)
    return record


def test_a_sampled_step_measures_every_gradient_of_bare_parameters():
    parameters = _parameters()
    probe = GradientProbe(parameters)
    record = StepRecord(0, sampled=True)
    probe.measure(record)
    probe.measure(record)  # once per step, whoever calls it first (a pre-step hook, the post-step one)
    norms = GradientProbe.norms(_read(record))
    assert norms == {name: p.grad.norm().item() for name, p in parameters.named}
    assert probe.review(record) and record.facts["no_gradient"] == ()


def test_an_unsampled_step_is_flagged_before_the_optimizer_steps():
    """A NaN gradient is found by the cheap CPU probe before step() could apply it; a calm step
    is measured no further."""
    parameters = _parameters()
    probe = GradientProbe(parameters)
    calm = StepRecord(1, sampled=False)
    probe.measure(calm)
    assert calm.flagged is False and calm.gradients is None and calm.tensors == []
    parameters.named[1][1].grad[0] = math.nan
    bad = StepRecord(2, sampled=False)
    probe.measure(bad)
    assert bad.flagged is True
    assert not math.isfinite(GradientProbe.norms(_read(bad))["b"])


def test_an_unsampled_step_is_flagged_at_ten_times_the_last_sampled_norm_or_at_inf():
    """The probe compares with the last sampled step: 9x is calm, 11x and Inf are measured in full."""
    parameters = _parameters()
    probe = GradientProbe(parameters)
    sampled = StepRecord(0, sampled=True)
    probe.measure(sampled)
    probe.review(_read(sampled))
    originals = [p.grad.clone() for _, p in parameters.named]
    for step, (scale, flagged) in enumerate([(9.0, False), (11.0, True), (math.inf, True)], start=1):
        for (_, p), original in zip(parameters.named, originals):
            p.grad = original * scale
        record = StepRecord(step, sampled=False)
        probe.measure(record)
        assert record.flagged is flagged, scale
