"""division_by_zero: MAPE with a zero target."""

from scenarios import batches, mlp, only, train


def _mape(pred, y):
    return ((y - pred.squeeze(1)).abs() / y.abs()).mean()


def _with_target(value, batch=5, row=3):
    data = batches(8, (32, 8))
    data[batch][1][row] = value
    return data


def test_zero_target_in_mape_is_named_at_its_step(logdir):
    """A zero target at step 5 makes the loss inf: the division is named at step 5."""
    event = only(train(logdir, mlp(8, 16, 1), _with_target(0.0), _mape), "division_by_zero")
    assert event.step == 5 and event.severity == "error"
    assert "1e-8" in event.hint


def test_near_zero_denominator_is_caught_before_it_overflows(logdir):
    """A 1e-12 target (loss finite but huge), loss logged before backward: the denominator is measured."""
    events = train(logdir, mlp(8, 16, 1), _with_target(1e-12, batch=0), _mape, log_before_backward=True)
    event = only(events, "division_by_zero")
    assert event.step == 0
    assert event.evidence["minimum"] < 1e-10 and event.evidence["values"] == 32


def test_eps_fixed_mape_is_healthy(logdir):
    """The hint's fix, / (y.abs() + 1e-8), raises nothing from this detector."""
    def fixed(pred, y):
        return ((y - pred.squeeze(1)).abs() / (y.abs() + 1e-8)).mean()

    events = train(logdir, mlp(8, 16, 1), _with_target(0.5), fixed, log_before_backward=True)
    assert [e for e in events if e.kind == "division_by_zero"] == []


def _masked_mean(pred, y):
    mask = (y.abs() < 10).float()  # step 5's batch: every target masked out
    return (((pred.squeeze(1) - y) ** 2) * mask).sum() / mask.sum()


def _masked_data(empty_batch):
    data = batches(8, (16, 8))
    if empty_batch is not None:
        data[empty_batch][1][:] = 100.0
    return data


def test_masked_mean_over_an_empty_mask_is_caught(logdir):
    """sum / mask.sum() (the loss ends in the division, by a tensor without grad) meets an empty mask."""
    events = train(logdir, mlp(8, 16, 1), _masked_data(5), _masked_mean)
    event = only(events, "division_by_zero")
    assert event.step == 5 and "DivBackward0" in event.message


def test_masked_mean_with_rows_left_is_healthy(logdir):
    """The same masked mean over batches that keep rows: no event."""
    events = train(logdir, mlp(8, 16, 1), _masked_data(None), _masked_mean)
    assert [e for e in events if e.kind == "division_by_zero"] == []
