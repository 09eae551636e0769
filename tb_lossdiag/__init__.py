"""tb_lossdiag: tells PyTorch users why their loss misbehaves, while they train, in TensorBoard."""

from tb_lossdiag.data import check_dataframe
from tb_lossdiag.detectors import Detector, LossPoint, default_detectors
from tb_lossdiag.events import Event
from tb_lossdiag.reader import RunEvents, read_logdir
from tb_lossdiag.stats import StepStats
from tb_lossdiag.writer import DiagnosticError, DiagWriter, rank_log_dir

__version__ = "0.1.0"

__all__ = [
    "DiagWriter",
    "DiagnosticError",
    "Detector",
    "Event",
    "LossPoint",
    "RunEvents",
    "StepStats",
    "check_dataframe",
    "default_detectors",
    "rank_log_dir",
    "read_logdir",
]
