"""The built-in detectors: one module each, registered in BUILTIN by their stable id."""

from tb_lossdiag.detectors.base import Detector, LossPoint, Onsets
from tb_lossdiag.detectors.nonfinite_loss import NonfiniteLoss

# Order is the order in which they see each observation.
BUILTIN = (
    NonfiniteLoss,
)


def default_detectors():
    """A fresh instance of every built-in detector."""
    return [cls() for cls in BUILTIN]


__all__ = ["BUILTIN", "Detector", "LossPoint", "Onsets", "default_detectors"]
