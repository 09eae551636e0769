"""softmax_before_cross_entropy: nn.CrossEntropyLoss fed softmax output."""

from torch import nn

from scenarios import batches, mlp, only, problems, train


def test_softmax_into_cross_entropy_is_caught_at_the_first_step(logdir):
    """A model ending in nn.Softmax trained with nn.CrossEntropyLoss: reported at step 0."""
    model = mlp(8, 16, 4, last_act=nn.Softmax(dim=1))
    events = train(logdir, model, batches(5, (32, 8), classes=4), nn.CrossEntropyLoss())
    event = only(events, "softmax_before_cross_entropy")
    assert event.step == 0 and event.severity == "warning"
    assert "raw logits" in event.hint


def test_cross_entropy_on_logits_is_healthy(logdir):
    """CrossEntropyLoss on raw logits, with an eval pass under no_grad between steps."""
    data = batches(12, (32, 8), classes=4)
    events = train(logdir, mlp(8, 16, 4), data, nn.CrossEntropyLoss(), eval_batch=data[0])
    assert problems(events) == []
