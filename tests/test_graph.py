"""graph.describe_loss looks through what real code puts between a softmax and the loss, and
between the loss and the logged value: one case per op, each with its healthy counterpart."""

import pytest
import torch
import torch.nn.functional as F

from tb_lossdiag.detectors import (
    DivisionByZero, LogOfNonpositive, NllOnProbabilities, SoftmaxBeforeCrossEntropy, TargetShapeMismatch,
)
from tb_lossdiag.detectors.base import LossPoint
from tb_lossdiag.graph import describe_loss, with_makers

N, T, C = 4, 5, 3


def _logits(*shape):
    torch.manual_seed(0)
    return torch.randn(*shape, requires_grad=True)


def _targets(*shape):
    return torch.randint(0, C, shape, generator=torch.Generator().manual_seed(1))


def _makers(loss):
    """The makers of `loss`'s graph, as the writer reads them for a non-finite loss."""
    return with_makers(describe_loss(loss), loss).makers


def _kinds(loss):
    """The kinds the loss-graph checks report on `loss` logged at step 0."""
    point = LossPoint("loss/train", 0, loss.item(), graph=describe_loss(loss))
    checks = (NllOnProbabilities(), SoftmaxBeforeCrossEntropy(), TargetShapeMismatch(),
              DivisionByZero(), LogOfNonpositive())
    return {event.kind for check in checks for event in check.on_loss(point)}


# Each op as real code applies it to per-token scores [N, T, C] with targets [N, T]: the
# (input, target) pair it hands to nll_loss / cross_entropy.
_OPS = {
    "view": lambda p, y: (p.view(-1, C), y.view(-1)),
    "reshape": lambda p, y: (p.transpose(0, 1).reshape(-1, C), y.t().reshape(-1)),
    "flatten": lambda p, y: (p.flatten(0, 1), y.flatten()),
    "transpose": lambda p, y: (p.transpose(1, 2), y),
    "permute": lambda p, y: (p.permute(0, 2, 1), y),
    "contiguous": lambda p, y: (p.transpose(1, 2).contiguous(), y),
    "squeeze": lambda p, y: (p[:, :1].squeeze(1), y[:, 0]),
    "unsqueeze": lambda p, y: (p.transpose(1, 2).unsqueeze(-1), y.unsqueeze(-1)),
    "float": lambda p, y: (p.double().float().view(-1, C), y.view(-1)),
    "to_dtype": lambda p, y: (p.to(torch.float64).view(-1, C), y.view(-1)),
    "mask": lambda p, y: (p[y > 0], y[y > 0]),
    "masked_select": lambda p, y: (p.masked_select((y > 0).unsqueeze(-1)).view(-1, C), y[y > 0]),
    "select": lambda p, y: (p[:, -1], y[:, -1]),
    "slice": lambda p, y: (p[:, 1:].transpose(1, 2), y[:, 1:]),
    "gather": lambda p, y: (p.view(-1, C).gather(0, torch.tensor([[0] * C, [2] * C])), y.view(-1)[[0, 2]]),
    "index_select": lambda p, y: (p.view(-1, C).index_select(0, torch.tensor([0, 2, 4])), y.view(-1)[[0, 2, 4]]),
    "expand": lambda p, y: (p[:1].expand(N, T, C).reshape(-1, C), y.view(-1)),
    "scaled": lambda p, y: (p.view(-1, C) * 2.0, y.view(-1)),
}


@pytest.mark.parametrize("op", list(_OPS))
def test_softmax_then_op_into_nll_loss_is_caught(op):
    """F.softmax, then the op, into nll_loss: nll_on_probabilities; log_softmax instead: silent."""
    logits, y = _logits(N, T, C), _targets(N, T)
    probs, target = _OPS[op](F.softmax(logits, dim=-1), y)
    assert "nll_on_probabilities" in _kinds(F.nll_loss(probs, target))
    log_probs, target = _OPS[op](F.log_softmax(logits, dim=-1), y)
    assert _kinds(F.nll_loss(log_probs, target)) == set()


@pytest.mark.parametrize("op", list(_OPS))
def test_softmax_then_op_into_cross_entropy_is_caught(op):
    """F.softmax, then the op, into cross_entropy: softmax_before_cross_entropy; raw logits: silent."""
    logits, y = _logits(N, T, C), _targets(N, T)
    probs, target = _OPS[op](F.softmax(logits, dim=-1), y)
    assert "softmax_before_cross_entropy" in _kinds(F.cross_entropy(probs, target))
    raw, target = _OPS[op](logits, y)
    assert _kinds(F.cross_entropy(raw, target)) == set()


def test_the_message_names_the_ops_looked_through():
    """The event says which reshapes stood between the softmax and the loss."""
    probs = F.softmax(_logits(N, T, C), dim=-1)
    loss = F.cross_entropy(probs.view(-1, C), _targets(N, T).view(-1))
    event, = SoftmaxBeforeCrossEntropy().on_loss(LossPoint("loss", 0, loss.item(), graph=describe_loss(loss)))
    assert "through ViewBackward0" in event.message


def test_softmax_under_autocast_cast_back_to_float_is_caught():
    """bf16 autocast: the logits come out in bfloat16, `.float()` before the loss; healthy without softmax."""
    layer, x, y = torch.nn.Linear(8, C), torch.randn(N * T, 8), _targets(N * T)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(x)
        assert "nll_on_probabilities" in _kinds(F.nll_loss(torch.softmax(out, dim=1).float(), y))
        assert _kinds(F.nll_loss(F.log_softmax(out.float(), dim=1), y)) == set()


@pytest.mark.parametrize("scale", [
    lambda loss: loss / 4,
    lambda loss: loss * 0.25,
    lambda loss: 0.5 * loss + 0.5 * loss.detach(),
    lambda loss: loss.float(),
], ids=["divided", "multiplied", "weighted_sum", "cast"])
def test_scaled_loss_keeps_its_loss_function(scale):
    """`loss / accumulation_steps` and the like: the loss function is still read, and a constant
    scaling is not a division that can be by zero."""
    probs = F.softmax(_logits(N, C), dim=1)
    loss = scale(F.nll_loss(probs, _targets(N)))
    assert describe_loss(loss).loss_fn == "nll_loss" and not describe_loss(loss).divides
    assert "nll_on_probabilities" in _kinds(loss)
    healthy = scale(F.nll_loss(F.log_softmax(_logits(N, C), dim=1), _targets(N)))
    assert _kinds(healthy) == set()


def test_nan_loss_scaled_by_a_constant_is_not_a_division_by_zero():
    """A NaN reaching `mse_loss(...) / 4` names no division; `sum / mask.sum()` does."""
    pred, y = _logits(N, 1), torch.randn(N, 1)
    nan = pred * float("nan")
    assert "division_by_zero" not in _kinds(F.mse_loss(nan, y) / 4)
    mask = torch.zeros(N, 1)
    assert "division_by_zero" in _kinds(((nan - y) ** 2 * mask).sum() / mask.sum())


def test_elementwise_division_seen_through_reshapes():
    """MAPE computed on a view of the prediction: still a division by data."""
    pred, y = _logits(N, T), torch.zeros(N, T)
    loss = ((y.view(-1) - pred.view(-1)).abs() / y.view(-1).abs()).mean() / 2
    assert describe_loss(loss).divides and "division_by_zero" in _kinds(loss)


def test_log_found_below_reshapes_and_masks():
    """torch.log of probabilities, then view / transpose / contiguous / mask / float: the log is read."""
    probs = F.softmax(_logits(N, T, C), dim=-1) - 1.0  # <= 0: log is NaN
    y = _targets(N, T)
    log = torch.log(probs).transpose(1, 2).contiguous().transpose(1, 2).reshape(-1, C)
    loss = F.nll_loss(log[y.view(-1) >= 0].double().float().view(-1, C).clone().contiguous(), y.view(-1)) / 4
    assert describe_loss(loss).logs and "log_of_nonpositive" in _kinds(loss)
    healthy = F.nll_loss(F.log_softmax(_logits(N, T, C), dim=-1).view(-1, C), y.view(-1)) / 4
    assert not describe_loss(healthy).logs


@pytest.mark.parametrize("wrap", [
    lambda loss: loss,
    lambda loss: loss / 4,
    lambda loss: loss.float(),
], ids=["plain", "divided", "cast"])
def test_target_shape_mismatch_under_scaling_and_casts(wrap):
    """mse_loss of [N, 1] against [N], divided or cast: still the broadcast; matching shapes: silent."""
    pred, y = _logits(N, 1), torch.randn(N)
    with pytest.warns(UserWarning):
        assert "target_shape_mismatch" in _kinds(wrap(F.mse_loss(pred, y)))
    assert _kinds(wrap(F.mse_loss(pred.squeeze(1), y))) == set()


def test_masked_per_element_loss_keeps_its_broadcast():
    """mse_loss(reduction="none") then a mask and a mean: the broadcast under the indexing is read."""
    pred, y = _logits(N, 1), torch.randn(N)
    with pytest.warns(UserWarning):
        loss = F.mse_loss(pred, y, reduction="none")[:, y > -10].mean()
    assert "target_shape_mismatch" in _kinds(loss)


def test_division_inside_the_model_is_no_loss_denominator():
    """Attention's `scores / sqrt(d)` below the output layer: a NaN loss names no division."""
    torch.manual_seed(0)
    query, out = torch.nn.Linear(4, 8), torch.nn.Linear(8, C)
    x = torch.randn(N, T, 4)
    scores = query(x) @ query(x).transpose(1, 2) / 8 ** 0.5
    pooled = (torch.softmax(scores * float("nan"), dim=-1) @ query(x)).mean(1)
    loss = F.cross_entropy(out(pooled), _targets(N))
    assert not describe_loss(loss).divides and "division_by_zero" not in _kinds(loss)


def test_makers_name_the_ops_that_can_make_nan_of_finite_values():
    """A linear-ReLU classifier's cross-entropy holds none; a sqrt inside the model is named (below
    the weight layers too), and so is autocast's cast; a loss divided by a constant is no maker."""
    torch.manual_seed(0)
    first, last = torch.nn.Linear(4, 8), torch.nn.Linear(8, C)
    x, y = torch.randn(N, 4), _targets(N)
    assert _makers(F.cross_entropy(last(torch.relu(first(x))), y) / 4) == ()
    assert _makers(F.cross_entropy(last(first(x).abs().sqrt()), y)) == ("SqrtBackward",)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # a low-precision forward can overflow
        assert _makers(F.cross_entropy(last(torch.relu(first(x))), y)) == ("ToCopyBackward",)


def test_ctc_mean_over_target_lengths_is_no_denominator():
    """CTCLoss's mean divides each sequence's loss by its target length (clamped to >= 1): no
    division a NaN could be blamed on; MAPE's `|pred - y| / |y|` still is one."""
    log_probs = F.log_softmax(_logits(20, N, 6), dim=2)
    targets = torch.randint(1, 6, (N, 8))
    lengths = torch.full((N,), 20), torch.full((N,), 8)
    loss = torch.nn.CTCLoss()(log_probs, targets, *lengths)
    assert not describe_loss(loss).divides and _makers(loss) == ()
    pred, y = _logits(N), torch.randn(N)
    assert _makers(((pred - y).abs() / y.abs()).mean()) == ("DivBackward",)


def test_a_nan_after_a_run_up_is_an_overflow_not_a_division_by_zero():
    """A loss that grew a million-fold before its NaN overflowed: its division is not blamed; a NaN
    straight after ordinary values is."""
    divides = describe_loss((_logits(N) ** 2).sum() / torch.zeros(N).sum())
    for values, blamed in (([2.0, 3e3, 4e7, float("nan")], False), ([2.0, 1.9, 1.8, float("nan")], True)):
        check = DivisionByZero()
        kinds = [e.kind for i, v in enumerate(values) for e in check.on_loss(LossPoint("loss", i, v, graph=divides))]
        assert kinds == (["division_by_zero"] if blamed else []), values


def test_model_detectors_judge_a_logged_loss_only_by_its_graph():
    """What lets scan skip them (ModelDetector.on_losses): without a graph, no model detector finds
    anything in a loss value, finite, NaN or negative."""
    from tb_lossdiag.detectors import default_detectors
    from tb_lossdiag.detectors._model import ModelDetector

    model_detectors = [d for d in default_detectors() if isinstance(d, ModelDetector)]
    assert {type(d).__name__ for d in model_detectors} >= {"DivisionByZero", "NonfiniteInput", "NllOnProbabilities"}
    for detector in model_detectors:
        for step, value in enumerate([1.0, float("nan"), -3.0, float("inf"), 2.0]):
            assert not detector.on_loss(LossPoint("loss/train", step, value)), type(detector).__name__
