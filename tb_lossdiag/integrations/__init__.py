"""Callbacks that put tb_lossdiag's diagnostics into a training framework's own TensorBoard run.

- `tb_lossdiag.integrations.lightning.LossDiagCallback`: PyTorch Lightning (`pip install "tb_lossdiag[lightning]"`)
- `tb_lossdiag.integrations.huggingface.LossDiagCallback`: transformers' Trainer (`pip install "tb_lossdiag[huggingface]"`)

Each submodule imports its framework; this package imports neither.
"""

import functools
import importlib
import warnings
from typing import Any

import torch

from tb_lossdiag.writer import DiagnosticError


def require(module: str, framework: str, extra: str) -> Any:
    """Import `module`, or raise an ImportError that names the extra which installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"tb_lossdiag.integrations.{extra} needs {framework}, which is not installed: "
            f'pip install "tb_lossdiag[{extra}]"'
        ) from error


def guarded(method):
    """A callback method whose failure is one warning and switches it off: training goes on.

    DiagnosticError is let through: stop_on_error=True asked for it.
    """
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        switched_off = vars(self).setdefault("_switched_off", set())
        if method.__name__ in switched_off:
            return None
        try:
            return method(self, *args, **kwargs)
        except DiagnosticError:
            raise
        except Exception as error:
            switched_off.add(method.__name__)
            warnings.warn(
                f"tb_lossdiag's {type(self).__name__}.{method.__name__} failed and was switched off: "
                f"{type(error).__name__}: {error}. Training is unaffected; please report this.",
                RuntimeWarning, stacklevel=2,
            )
            return None
    return run


def grad_scaler(candidate):
    """`candidate` when it is a torch.amp.GradScaler (for watch(scaler=...)), else None."""
    return candidate if isinstance(candidate, torch.amp.GradScaler) else None
