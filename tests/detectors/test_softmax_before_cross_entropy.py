"""softmax_before_cross_entropy: nn.CrossEntropyLoss fed softmax output."""

import torch
import torch.nn.functional as F
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


def _token_batches(n, vocab=12, batch=8, length=6):
    """`n` batches of token windows and their next tokens, [batch, length] each."""
    gen = torch.Generator().manual_seed(0)
    return [(torch.randint(0, vocab, (batch, length), generator=gen),
             torch.randint(0, vocab, (batch, length), generator=gen)) for _ in range(n)]


def _token_model(vocab=12):
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(vocab, 16), nn.Linear(16, vocab))


def test_softmax_viewed_into_cross_entropy_is_caught(logdir):
    """A language model's F.softmax(logits), then .view(-1, vocab) into F.cross_entropy (the
    llama-from-scratch bug): reported at step 0, naming the view it looked through."""
    def loss_fn(logits, y):
        return F.cross_entropy(F.softmax(logits, dim=-1).view(-1, 12), y.view(-1))

    event = only(train(logdir, _token_model(), _token_batches(3), loss_fn), "softmax_before_cross_entropy")
    assert event.step == 0 and "ViewBackward0" in event.message


def test_logits_viewed_into_cross_entropy_are_healthy(logdir):
    """The same model's raw logits viewed into F.cross_entropy: no event."""
    def loss_fn(logits, y):
        return F.cross_entropy(logits.view(-1, 12), y.view(-1))

    assert problems(train(logdir, _token_model(), _token_batches(12), loss_fn)) == []
