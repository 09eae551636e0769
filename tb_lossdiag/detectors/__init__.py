"""The built-in detectors: one module each, registered in BUILTIN by their stable id."""

from tb_lossdiag.detectors.base import Detector, LossPoint, Onsets
from tb_lossdiag.detectors.nonfinite_loss import NonfiniteLoss
from tb_lossdiag.detectors.nll_on_probabilities import NllOnProbabilities
from tb_lossdiag.detectors.softmax_before_cross_entropy import SoftmaxBeforeCrossEntropy
from tb_lossdiag.detectors.target_shape_mismatch import TargetShapeMismatch
from tb_lossdiag.detectors.division_by_zero import DivisionByZero
from tb_lossdiag.detectors.log_of_nonpositive import LogOfNonpositive
from tb_lossdiag.detectors.missing_zero_grad import MissingZeroGrad
from tb_lossdiag.detectors.nonfinite_input import NonfiniteInput
from tb_lossdiag.detectors.nonfinite_activation import NonfiniteActivation
from tb_lossdiag.detectors.nonfinite_gradient import NonfiniteGradient
from tb_lossdiag.detectors.nonfinite_origin import NonfiniteOrigin
from tb_lossdiag.detectors.unnormalized_input import UnnormalizedInput
from tb_lossdiag.detectors.exploding_gradient import ExplodingGradient
from tb_lossdiag.detectors.vanishing_gradient import VanishingGradient
from tb_lossdiag.detectors.dead_activation import DeadActivation
from tb_lossdiag.detectors.saturated_activation import SaturatedActivation
from tb_lossdiag.detectors.frozen_parameters import FrozenParameters
from tb_lossdiag.detectors.grad_scale_collapse import GradScaleCollapse
from tb_lossdiag.detectors.negative_loss import NegativeLoss
from tb_lossdiag.detectors.loss_divergence import LossDivergence
from tb_lossdiag.detectors.loss_oscillation import LossOscillation
from tb_lossdiag.detectors.loss_plateau import LossPlateau
from tb_lossdiag.detectors.loss_spike import LossSpike
from tb_lossdiag.detectors.overfitting import Overfitting
from tb_lossdiag.detectors.stray_index_column import StrayIndexColumn
from tb_lossdiag.detectors.missing_values import MissingValues
from tb_lossdiag.detectors.empty_strings import EmptyStrings
from tb_lossdiag.detectors.dtype_inconsistency import DtypeInconsistency
from tb_lossdiag.detectors.nonfinite_values import NonfiniteValues
from tb_lossdiag.detectors.label_dtype import LabelDtype
from tb_lossdiag.detectors.label_range import LabelRange
from tb_lossdiag.detectors.outlier_values import OutlierValues
from tb_lossdiag.detectors.shape_inconsistency import ShapeInconsistency

# Order is the order in which they see each observation.
BUILTIN = (
    NonfiniteLoss,
    NllOnProbabilities,
    SoftmaxBeforeCrossEntropy,
    TargetShapeMismatch,
    DivisionByZero,
    LogOfNonpositive,
    MissingZeroGrad,
    NonfiniteInput,
    NonfiniteActivation,
    NonfiniteGradient,
    NonfiniteOrigin,
    UnnormalizedInput,
    ExplodingGradient,
    VanishingGradient,
    DeadActivation,
    SaturatedActivation,
    FrozenParameters,
    GradScaleCollapse,
    NegativeLoss,
    LossDivergence,
    LossOscillation,
    LossPlateau,
    LossSpike,
    Overfitting,
    # Data detectors: they see the observations of check_data().
    StrayIndexColumn,
    MissingValues,
    EmptyStrings,
    DtypeInconsistency,
    NonfiniteValues,
    LabelDtype,
    LabelRange,
    OutlierValues,
    ShapeInconsistency,
)


def default_detectors():
    """A fresh instance of every built-in detector."""
    return [cls() for cls in BUILTIN]


__all__ = ["BUILTIN", "Detector", "LossPoint", "Onsets", "default_detectors"]
