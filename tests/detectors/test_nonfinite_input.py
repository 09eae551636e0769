"""nonfinite_input: a NaN injected into one batch."""

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
