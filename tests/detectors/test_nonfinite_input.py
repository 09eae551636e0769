"""nonfinite_input: a NaN injected into one batch."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from scenarios import batches, mlp, only, train
from tb_lossdiag import DiagWriter


def test_nan_in_one_batch_is_named_with_argument_count_and_column(logdir):
    """Step 7's batch holds 3 NaN in column 2 and an Inf in column 5: all named at step 7."""
    data = batches(10, (32, 8), classes=4)
    data[7][0][[1, 4, 9], 2] = float("nan")
    data[7][0][0, 5] = float("inf")
    events = train(logdir, mlp(8, 16, 4), data, F.cross_entropy)
    event = only(events, "nonfinite_input")
    assert event.step == 7 and event.severity == "error"
    assert event.evidence["count"] == 4 and event.evidence["column"] == 2
    assert event.evidence["column_count"] == 3
    assert "'input'" in event.message and "column 2" in event.message
    # The NaN weights it leaves behind are not reported as new causes (the birthplace, when named, is this batch).
    assert {e.kind for e in events} <= {"nonfinite_input", "nonfinite_loss", "nonfinite_origin"}
    assert all("input" in e.evidence for e in events if e.kind == "nonfinite_origin")


class _TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, features, *, mask):
        return self.fc(features * mask)


def test_keyword_argument_is_named(logdir):
    """A NaN in a keyword argument names that keyword; the healthy positional one is not named."""
    torch.manual_seed(0)
    model = _TwoInputs()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    writer = DiagWriter(logdir)
    writer.watch(model, optimizer)
    for step in range(3):
        mask = torch.ones(4, 8)
        if step == 2:
            mask[0, 0] = float("nan")
        optimizer.zero_grad()
        loss = F.cross_entropy(model(torch.randn(4, 8), mask=mask), torch.tensor([0, 1, 2, 3]))
        loss.backward()
        optimizer.step()
    writer.close()
    event = only(writer.events, "nonfinite_input")
    assert event.step == 2 and "'mask'" in event.message and event.evidence["count"] == 1


@pytest.mark.parametrize("bad", [5, 300])
def test_swap_only_nan_batch_is_inferred_at_its_step(logdir, bad):
    """Only the writer swapped, the loss tensor logged after optimizer.step(): a NaN in one batch is
    named at its step as likely NaN/Inf in the data, and the diagnosis starts there; also after
    batches of finite values went to the detectors deferred (step 300)."""
    data = batches(bad + 5, (32, 8), classes=4)
    data[bad][0][3, 1] = float("nan")
    events = train(logdir, mlp(8, 16, 4), data, F.cross_entropy, watch=False)
    event = only(events, "nonfinite_input")
    assert event.step == bad and event.evidence["inferred"] == 1.0
    assert f"likely NaN/Inf in the batch at step {bad}" in event.message and "watch(model" in event.hint
    from tb_lossdiag.diagnosis import diagnose
    (first, *_) = diagnose(events)
    assert first.root.kind == "nonfinite_input" and first.confidence == "likely"
    assert first.summary.startswith(f"likely NaN/Inf in the batch at step {bad}") and "`loss/train` NaN" in first.summary


def test_a_nan_loss_an_op_of_the_graph_can_explain_is_not_blamed_on_the_data(logdir):
    """A log in the loss graph can make NaN of finite values: nothing is inferred about the batch
    (with a clean batch and with a NaN one); with watch() the measured check alone speaks."""
    data = batches(10, (32, 8), classes=4)
    data[5][0][3, 1] = float("nan")

    def log_loss(out, y):
        return -torch.log(F.softmax(out, dim=1).gather(1, y[:, None]) - 0.5).mean()

    assert not [e for e in train(f"{logdir}/log", mlp(8, 16, 4), data, log_loss, watch=False)
                if e.kind == "nonfinite_input"]
    watched = [e for e in train(f"{logdir}/watched", mlp(8, 16, 4), data, F.cross_entropy)
               if e.kind == "nonfinite_input"]
    assert len(watched) == 1 and "inferred" not in watched[0].evidence


def test_a_loss_that_overflows_after_running_away_is_not_blamed_on_the_data(logdir):
    """SGD at lr 10 on unscaled regression targets: the loss grows by orders of magnitude until it
    overflows; the NaN is the divergence's, not a bad batch's."""
    torch.manual_seed(0)
    x = torch.randn(64, 8) * 10
    data = [(x, x.sum(1, keepdim=True) * 100)] * 60
    model = mlp(8, 16, 1)
    events = train(logdir, model, data, F.mse_loss, torch.optim.SGD(model.parameters(), lr=1.0), watch=False)
    assert any(e.kind == "nonfinite_loss" for e in events)
    assert not [e for e in events if e.kind == "nonfinite_input"]
