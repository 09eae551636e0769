"""Data checks: what in a DataFrame, Dataset, batch or tensor will poison the loss.

This package reads the data into observations (tb_lossdiag.detectors._data); the data detectors
decide what is a problem, with their own thresholds, so DiagWriter(tune=..., disable=...) reaches them.
"""

import dataclasses
import sys
from typing import Callable, List, Mapping, Optional, Sequence

import numpy as np
import torch

from tb_lossdiag.data import frames, samples
from tb_lossdiag.data.numbers import Check, Sampling
from tb_lossdiag.detectors import BUILTIN
from tb_lossdiag.diagnoser import Diagnoser
from tb_lossdiag.events import Event

OPTIONS = ("label", "num_classes", "model")
_ACCEPTED = (
    "a pandas DataFrame or Series, a torch Dataset or DataLoader (or any sequence of samples), "
    "a batch (tuple, list or dict of tensors), or a numeric tensor or numpy array"
)
_READERS = {
    "dataframe": frames.check_frame,
    "array": samples.check_array,
    "batch": samples.check_batch,
    "dataset": samples.check_dataset,
    "dataloader": samples.check_dataloader,
}


def check_dataframe(
    df,
    *,
    step: int = -1,
    name: Optional[str] = None,
    tune: Optional[Mapping[str, Mapping]] = None,
    disable: Sequence[str] = (),
    **options,
) -> List[Event]:
    """The problems of a pandas DataFrame (or Series): one event per problem and column; `tune`
    and `disable` set the detectors as DiagWriter's do."""
    if _kind_of(df) != "dataframe":
        raise TypeError(f"check_dataframe needs a pandas DataFrame or Series, got {type(df).__name__}")
    return prepare_check(df, step=step, name=name, **options)(Diagnoser(tune=tune, disable=disable))


def prepare_check(
    data,
    *,
    step: int = -1,
    name: Optional[str] = None,
    label=None,
    num_classes: Optional[int] = None,
    model: Optional[torch.nn.Module] = None,
    **sampling,
) -> Callable[[Diagnoser], List[Event]]:
    """The check for `data`, ready to run with a Diagnoser; wrong arguments raise here, before any
    data is read."""
    # `label` names the label column, key or tuple position (default: a "label"/"target"/"y" key,
    # the second of (input, label) pairs). `num_classes`, or the output size of `model`'s last
    # layer, makes labels class indices; a 1-D tensor checked with them is a tensor of labels.
    _reject_unknown(sampling)
    kind = _kind_of(data)
    if num_classes is None and model is not None:
        num_classes = _output_size(model)
    valid = isinstance(num_classes, int) and not isinstance(num_classes, bool) and num_classes > 0
    if num_classes is not None and not valid:
        raise TypeError(f"num_classes must be a positive int, got {num_classes!r}")
    if kind == "dataframe" and label is not None:
        columns = data.to_frame().columns if data.ndim == 1 else data.columns
        if label not in columns:
            raise ValueError(f"label column {label!r} is not in the DataFrame; its columns: {list(columns)}")
    settings = Sampling(**sampling)
    read = _READERS[kind]

    def run(diagnoser: Diagnoser) -> List[Event]:
        check = Check(int(step), name, settings, diagnoser.data)
        return read(data, check, label, num_classes)

    return run


def _reject_unknown(options: Mapping) -> None:
    """A TypeError for an option check_data does not take, naming where a detector threshold is set."""
    unknown = sorted(set(options) - {f.name for f in dataclasses.fields(Sampling)})
    if not unknown:
        return
    owners = {
        field.name: detector.id for detector in BUILTIN for field in dataclasses.fields(detector.Thresholds)
    }
    for option in unknown:
        if option in owners:
            raise TypeError(
                f"{option!r} is a threshold of the {owners[option]!r} detector: set it with "
                f"DiagWriter(..., tune={{{owners[option]!r}: {{{option!r}: ...}}}})"
            )
    raise TypeError(
        f"unknown option(s) {unknown}; accepted: {', '.join(OPTIONS)} and the sampling settings "
        f"{[f.name for f in dataclasses.fields(Sampling)]}"
    )


def _kind_of(data) -> str:
    pandas = sys.modules.get("pandas")  # a DataFrame can only exist once its user imported pandas
    if pandas is not None and isinstance(data, (pandas.DataFrame, pandas.Series)):
        return "dataframe"
    if isinstance(data, torch.Tensor) or (isinstance(data, np.ndarray) and data.dtype.kind in "biuf"):
        return "array"
    if isinstance(data, torch.utils.data.DataLoader):
        return "dataloader"
    values = list(data.values()) if isinstance(data, Mapping) else data
    if isinstance(values, (tuple, list)) and values and all(_is_array(v) for v in values):
        return "batch"
    if isinstance(data, (torch.utils.data.Dataset, Sequence)) and not isinstance(data, (str, bytes)):
        return "dataset"
    raise TypeError(f"check_data accepts {_ACCEPTED}; got {type(data).__name__}")


def _is_array(value) -> bool:
    return isinstance(value, (torch.Tensor, np.ndarray))


def _output_size(model: torch.nn.Module) -> Optional[int]:
    """The class count of a classifier's last layer; None for one output (regression, binary)."""
    sizes = [size for m in model.modules() if isinstance(size := getattr(m, "out_features", None), int)]
    return sizes[-1] if sizes and sizes[-1] > 1 else None
