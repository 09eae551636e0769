"""ClearTiming learns, between a backward's end and the loss's logging, whether the loop cleared the
gradients (zero_grad() right after step()), from the probed parameters alone."""

import torch

from tb_lossdiag.watch.clearing import ClearTiming


def _backward():
    """Two parameters with gradients from one backward."""
    w, b = torch.randn(3, 2, requires_grad=True), torch.zeros(2, requires_grad=True)
    (torch.randn(4, 3) @ w + b).square().sum().backward()
    return [w, b]


def test_gradients_set_to_none_before_logging_are_a_clear():
    params, timing = _backward(), ClearTiming()
    timing.backward_ended(params)
    for p in params:
        p.grad = None
    assert timing.logged(params) is True and timing.before_log and timing.known


def test_gradients_zeroed_in_place_are_a_clear_once_their_values_are_read():
    params, timing = _backward(), ClearTiming()
    timing.backward_ended(params)
    for p in params:
        p.grad.zero_()
    assert timing.logged(params) is None and not timing.known  # clipping changes them too: values decide
    assert timing.read([0.0, 0.0]) is True and timing.before_log and timing.known


def test_clipped_gradients_are_no_clear():
    params, timing = _backward(), ClearTiming()
    timing.backward_ended(params)
    torch.nn.utils.clip_grad_norm_(params, 1e-3)
    assert timing.logged(params) is None
    assert timing.read([p.grad.norm().item() for p in params]) is False and not timing.before_log


def test_untouched_gradients_are_no_clear_and_the_first_backward_teaches_nothing():
    params, timing = _backward(), ClearTiming()
    assert timing.logged(params) is False and not timing.known  # no hook saw that backward end
    timing.backward_ended(params)
    assert timing.logged(params) is False and timing.known and not timing.before_log


def test_a_suspicion_is_confirmed_by_gradients_gone_and_refuted_by_gradients_there():
    """The first loss found with no gradient: measured at the next backward's end in case the loop
    clears before logging; the next log tells."""
    for cleared in (True, False):
        params, timing = _backward(), ClearTiming()
        timing.suspect()
        assert timing.before_log and not timing.known
        timing.backward_ended(params)
        if cleared:
            for p in params:
                p.grad = None
        assert timing.logged(params) is cleared and timing.before_log is cleared and timing.known
