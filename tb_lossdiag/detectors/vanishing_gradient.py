"""vanishing_gradient: the gradient shrinks layer after layer on its way back to the first layer."""

import dataclasses
import math
import statistics

from tb_lossdiag.detectors._model import ModelDetector, broken

# Lookup tables: only the rows a batch uses get a gradient, so their per-value gradient says how
# many tokens were seen, not how deep the layer is.
_LOOKUP_TABLES = {"Embedding", "EmbeddingBag"}
# The same tables as a swap-only watch names them: by the autograd op taking the weight ("EmbeddingBackward0 #3").
_LOOKUP_OPS = ("EmbeddingBackward", "EmbeddingBagBackward")


def depth_order(stats):
    """The layers with a gradient, first layer first: in the order the forward pass ran them when
    each is a measured leaf module (sampled steps with activations), else in registration order;
    lookup tables left out."""
    position, kinds = {}, {}
    for index, activation in enumerate(stats.activations):
        position.setdefault(activation.name, index)
        kinds.setdefault(activation.name, activation.kind)
    layers = [layer for layer in stats.layers
              if layer.numel and layer.grad_norm > 0 and kinds.get(layer.name) not in _LOOKUP_TABLES
              and not layer.name.startswith(_LOOKUP_OPS)]
    if all(layer.name in position for layer in layers):
        layers.sort(key=lambda layer: position[layer.name])
    return layers


class VanishingGradient(ModelDetector):
    """Fires when the first layer's per-value gradient is `ratio` x the largest later layer's and
    below the median of the later layers, in depth order, for `patience` sampled steps.

    The median test asks for a gradient that shrinks across the bulk of the net on its way back,
    not only past its last layers: a U-Net whose output conv gets a huge gradient has its first
    layer above its bottleneck's, fed by the skip connection.
    """

    id = "vanishing_gradient"
    hint = (
        "Use ReLU/GELU instead of sigmoid/tanh in hidden layers, He/Xavier initialization, "
        "normalization layers (BatchNorm/LayerNorm) or residual connections."
    )

    @dataclasses.dataclass(frozen=True)
    class Thresholds:
        # First-layer RMS gradient / largest later layer's (usually the output layer's, whose
        # few values get the loss's gradient first-hand). Measured through watch(): 4-, 5- and
        # 10-layer sigmoid MLPs trained with SGD sit 560-1e8x below; the same 5-layer MLPs with
        # ReLU 1.2-30x; healthy zoo and real-world nets (transformers, CNN, LSTM) at most 95x.
        ratio: float = 1 / 250
        patience: int = 2  # sampled steps in a row

    def on_step(self, stats):
        profile = _profile(stats)
        if profile is None:
            return ()
        layers, rms, peak = profile
        first, largest = rms[0], rms[peak]
        shrink = (largest / first) ** (1 / peak)  # the geometric shrink per layer, for the message
        if not self.held_onset("first", _vanished(rms, peak, self.thresholds.ratio), stats.step):
            return ()
        name, peak_name = layers[0].name, layers[peak].name
        return [self.event(
            stats.step, "warning", f"layer {name}",
            f"the gradient reaching the first layer {name!r} is {first / largest:.2g}x that of layer "
            f"{peak_name!r} at step {stats.step} (RMS {first:.3g} vs {largest:.3g}), shrinking "
            f"~{shrink:.2g}x per layer on its way back: the early layers barely learn",
            self.hint, first_rms=first, largest_rms=largest, per_layer=shrink,
        )]


def starved(stats) -> bool:
    """Whether this sampled step's first layer gets a vanished gradient (the default test, no patience)."""
    profile = _profile(stats)
    return profile is not None and _vanished(profile[1], profile[2], VanishingGradient.Thresholds.ratio)


def _profile(stats):
    """(layers in depth order, their per-value gradient RMS, the index of the largest after the
    first); None with under 3 layers or a broken step."""
    layers = depth_order(stats)
    if len(layers) < 3 or broken(stats):
        return None
    rms = [layer.grad_norm / math.sqrt(layer.numel) for layer in layers]
    return layers, rms, max(range(1, len(rms)), key=rms.__getitem__)


def _vanished(rms, peak, ratio) -> bool:
    """The first layer's RMS is `ratio` x the peak's and below the later layers' median."""
    return rms[0] < ratio * rms[peak] and rms[0] < statistics.median(rms[1:])
