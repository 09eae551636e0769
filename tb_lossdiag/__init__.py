"""tb_lossdiag: tells PyTorch users why their loss misbehaves, while they train, in TensorBoard."""

import importlib
import typing

__version__ = "0.1.0"

# Each public name and the module defining it, imported on first use (PEP 562): `import tb_lossdiag`
# and `tb-lossdiag report` then cost no torch import (~4 s on a small machine) until one is used.
_HOMES = {
    "DiagWriter": "tb_lossdiag.writer",
    "DiagnosticError": "tb_lossdiag.writer",
    "Detector": "tb_lossdiag.detectors",
    "Event": "tb_lossdiag.events",
    "LossPoint": "tb_lossdiag.detectors",
    "RunEvents": "tb_lossdiag.reader",
    "StepStats": "tb_lossdiag.stats",
    "check_dataframe": "tb_lossdiag.data",
    "default_detectors": "tb_lossdiag.detectors",
    "rank_log_dir": "tb_lossdiag.writer",
    "read_logdir": "tb_lossdiag.reader",
}

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

if typing.TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports them
    from tb_lossdiag.data import check_dataframe
    from tb_lossdiag.detectors import Detector, LossPoint, default_detectors
    from tb_lossdiag.events import Event
    from tb_lossdiag.reader import RunEvents, read_logdir
    from tb_lossdiag.stats import StepStats
    from tb_lossdiag.writer import DiagnosticError, DiagWriter, rank_log_dir


def __getattr__(name: str) -> typing.Any:
    """A public name, imported from its module the first time it is asked for."""
    if name not in _HOMES:
        raise AttributeError(f"module 'tb_lossdiag' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # later lookups find it directly
    return value


def __dir__() -> typing.List[str]:
    return sorted(set(globals()) | set(__all__))
