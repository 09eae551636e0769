"""vanishing_gradient: sigmoid stacks, judged in the order the forward pass runs the layers."""

import torch
import torch.nn.functional as F
from torch import nn

from scenarios import batches, mlp, only, problems, train
from tb_lossdiag.detectors import VanishingGradient
from tb_lossdiag.stats import LayerStats, StepStats


def _digits_like(n):
    """`n` batches of 64 pixel-like features (0..16, as sklearn's digits) and 10 classes."""
    gen = torch.Generator().manual_seed(0)
    centers = torch.rand(10, 64, generator=gen) * 16
    out = []
    for _ in range(n):
        y = torch.randint(0, 10, (64,), generator=gen)
        out.append(((centers[y] + 3 * torch.randn(64, 64, generator=gen)).clamp(0, 16), y))
    return out


def _sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.1)


def test_five_sigmoid_layers_are_caught(logdir):
    """Five sigmoid layers: the first layer's gradient sits ~1e3x below the last layer's, ~4x less
    per layer: reported at the second sampled step."""
    model = mlp(64, *[64] * 5, 10, act=nn.Sigmoid)
    event = only(train(logdir, model, _digits_like(12), F.cross_entropy, _sgd(model)), "vanishing_gradient")
    assert event.step == 10 and event.tag == "layer 0"
    assert event.evidence["first_rms"] < event.evidence["largest_rms"] / 250
    assert event.evidence["per_layer"] > 2 and "per layer" in event.message
    assert "ReLU" in event.hint


def test_five_relu_layers_are_healthy(logdir):
    """The same five layers with ReLU: under 50x from first to last, no event."""
    model = mlp(64, *[64] * 5, 10)
    events = train(logdir, model, _digits_like(25), F.cross_entropy, _sgd(model))
    assert [e for e in events if e.kind == "vanishing_gradient"] == []


def test_deep_sigmoid_mlp_is_caught(logdir):
    """Ten sigmoid layers: the first layer's gradient is ~1e-9 of the last's (sampled steps 0, 10)."""
    model = mlp(8, *[32] * 10, 4, act=nn.Sigmoid)
    event = only(train(logdir, model, batches(12, (32, 8), classes=4), F.cross_entropy), "vanishing_gradient")
    assert event.step == 10 and event.evidence["first_rms"] < 1e-6 * event.evidence["largest_rms"]


def test_deep_he_initialized_relu_mlp_is_healthy(logdir):
    """The same depth with ReLU and He initialization: no event."""
    model = mlp(8, *[32] * 10, 4)
    for layer in model[::2]:
        nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")
    assert problems(train(logdir, model, batches(25, (32, 8), classes=4), F.cross_entropy)) == []


class _HeadFirst(nn.Module):
    """Registers its output layer before the sigmoid body: registration order is not depth order."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Linear(64, 10)
        self.body = mlp(64, *[64] * 5, act=nn.Sigmoid, last_act=nn.Sigmoid())

    def forward(self, x):
        return self.head(self.body(x))


def test_layers_are_judged_in_forward_order(logdir):
    """The head registered first: the first layer the forward pass runs is still the one named."""
    model = _HeadFirst()
    event = only(train(logdir, model, _digits_like(12), F.cross_entropy, _sgd(model)), "vanishing_gradient")
    assert event.tag == "layer body.0"


class _BagOfWords(nn.Module):
    """A text classifier over a 20,000-word vocabulary: a batch touches a few dozen embedding rows."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(20000, 32)
        self.classify = mlp(32, 32, 32, 4)

    def forward(self, tokens):
        return self.classify(self.embed(tokens).mean(1))


def test_embedding_table_is_not_a_vanished_layer(logdir):
    """Most embedding rows get no gradient in a step (their RMS is ~1e3x below the output layer's):
    lookup tables are left out, no event."""
    gen = torch.Generator().manual_seed(0)
    data = [(torch.randint(0, 20000, (8, 6), generator=gen), torch.randint(0, 4, (8,), generator=gen))
            for _ in range(25)]
    model = _BagOfWords()
    events = train(logdir, model, data, F.cross_entropy, _sgd(model))
    assert [e for e in events if e.kind == "vanishing_gradient"] == []


def _profile(step, rms_by_layer):
    """A sampled StepStats whose layers have these per-value gradients (64 values each)."""
    layers = tuple(LayerStats(name, 64, rms * 8.0) for name, rms in rms_by_layer)
    return StepStats(step=step, sampled=True, layers=layers)


def test_gradient_large_only_past_the_last_layers_is_not_vanishing():
    """Measured in a U-Net on 0/255 masks: the output conv's gradient is 385x the first layer's,
    but the first layer (fed by the skip connection) sits above the bottleneck's: no event. A
    smaller ratio with the gradient shrinking layer after layer (a sigmoid stack) fires."""
    unet = [("encoder1.0", 0.21), ("encoder1.1", 0.11), ("bottleneck.0", 0.065), ("bottleneck.1", 0.051),
            ("upconv1", 0.044), ("decoder1.0", 0.1), ("decoder1.1", 19.0), ("conv", 81.0)]
    detector = VanishingGradient()
    assert [e for step in (0, 10, 20) for e in detector.on_step(_profile(step, unet))] == []
    sigmoid = [("layers.0", 4.4e-6), ("layers.2", 7e-6), ("layers.4", 2e-5), ("layers.6", 2e-4), ("layers.8", 4.4e-3)]
    detector = VanishingGradient()
    assert [e.step for step in (0, 10) for e in detector.on_step(_profile(step, sigmoid))] == [10]


def test_embedding_named_by_its_graph_op_is_not_a_vanished_layer():
    """Without watch() the layers are the ops taking parameters (word_language_model, writer swapped
    only): an embedding table reached through EmbeddingBackward0 at 0.00025x is left out; the same
    profile through a Linear's AddmmBackward0 fires."""
    def profile(first_op):
        return [(f"{first_op} #3", 7.6e-7), ("AddmmBackward0 #2", 1e-4), ("AddmmBackward0 #1", 4e-4),
                ("AddmmBackward0 #0", 3.1e-3)]
    for first_op, expected in (("EmbeddingBackward0", []), ("AddmmBackward0", [10])):
        detector = VanishingGradient()
        found = [e.step for step in (0, 10) for e in detector.on_step(_profile(step, profile(first_op)))]
        assert found == expected, first_op
