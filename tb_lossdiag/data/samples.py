"""What a data check reads of tensors, batches, Datasets and DataLoaders: field by field."""

import collections
import dataclasses
import functools
import itertools
import random
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
import torch

from tb_lossdiag.data.numbers import Check, Numbers, dtype_name, observe_field, observe_numbers
from tb_lossdiag.detectors._data import FloatField, MissingItems, Place, ShapeChanges, TypeChanges
from tb_lossdiag.events import Event

_LABEL_KEYS = ("label", "labels", "target", "targets", "y")


def check_array(array, check: Check, label, num_classes) -> List[Event]:
    """Events of a tensor or numpy array; with num_classes, a 1-D one is a tensor of labels."""
    data = torch.as_tensor(array).detach().cpu()
    if not _is_numeric(data):
        return []
    is_label = num_classes is not None and data.ndim == 1
    return observe_field(check, Place("x", "the tensor", "x", "tensor"), data, None, is_label, num_classes)


def check_batch(batch, check: Check, label, num_classes) -> List[Event]:
    """Events of a batch: a tuple, list or dict of tensors holding many samples each."""
    return _check_fields(_fields([(0, batch)], label), check, num_classes, "the batch", stacked=True)


def check_dataset(dataset, check: Check, label, num_classes) -> List[Event]:
    """Events of a seeded sample of a Dataset's items (an IterableDataset's first items)."""
    size_limit = check.sampling.sample_size
    if isinstance(dataset, torch.utils.data.IterableDataset):
        items = list(enumerate(itertools.islice(dataset, size_limit)))
        sampled = f"{len(items)} sampled items"
    else:
        size = len(dataset)
        chosen = sorted(random.Random(check.sampling.seed).sample(range(size), min(size, size_limit)))
        items = [(i, dataset[i]) for i in chosen]
        sampled = f"the {size} items" if len(items) == size else f"{len(items)} sampled items of {size}"
    return _check_fields(_fields(items, label), check, num_classes, sampled, stacked=False)


def check_dataloader(loader, check: Check, label, num_classes) -> List[Event]:
    """Events of a DataLoader's Dataset."""
    return check_dataset(loader.dataset, check, label, num_classes)


@dataclasses.dataclass
class _Field:
    """The values one field of the samples takes, with the Dataset index of each."""

    name: str
    is_label: bool
    values: List[Tuple[int, object]] = dataclasses.field(default_factory=list)


def _fields(items, label) -> List[_Field]:
    fields: Dict[str, _Field] = {}
    for index, item in items:
        named, label_name = _named(item, label)
        for key, value in named.items():
            fields.setdefault(key, _Field(key, key == label_name)).values.append((index, value))
    return list(fields.values())


def _named(item, label) -> Tuple[Dict[str, object], Optional[str]]:
    """One sample's fields by name, and the name of its label field (None without one)."""
    if isinstance(item, Mapping):
        chosen = label if label is not None else next((k for k in _LABEL_KEYS if k in item), None)
        return {str(k): v for k, v in item.items()}, None if chosen is None else str(chosen)
    if isinstance(item, (tuple, list)):
        names = {1: ["input"], 2: ["input", "label"]}.get(len(item)) or [f"[{i}]" for i in range(len(item))]
        chosen = label if label is not None else (1 if len(item) == 2 else None)
        known = isinstance(chosen, int) and -len(item) <= chosen < len(item)
        return dict(zip(names, item)), names[chosen] if known and isinstance(chosen, int) else None
    return {"input": item}, None


def _as_tensor(value) -> Optional[torch.Tensor]:
    """`value` as the CPU tensor default_collate would make of it; None when it holds no numbers."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, float):  # default_collate turns Python floats into float64
        return torch.tensor(value, dtype=torch.float64)
    if isinstance(value, (int, np.ndarray, np.generic)):
        try:
            return torch.as_tensor(value)
        except (TypeError, RuntimeError):  # arrays of text or objects
            return None
    return None


def _is_numeric(t: torch.Tensor) -> bool:
    return t.dtype != torch.bool and not t.is_complex()


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"{dtype_name(value.dtype)} tensor"
    if isinstance(value, (np.ndarray, np.generic)):
        return f"numpy {value.dtype}"
    return type(value).__name__


def _field_place(name: str, stacked: bool) -> Place:
    """A field of a batch (`stacked`: its tensors hold many samples) or of Dataset items."""
    return Place(name, f"field {name!r}", name, "tensor" if stacked else "item")


def _check_fields(fields: List[_Field], check: Check, num_classes, sampled: str, stacked: bool):
    events: List[Event] = []
    floats: Dict[str, Tuple[torch.dtype, bool]] = {}
    for field in fields:
        place = _field_place(field.name, stacked)
        missing = tuple(i for i, v in field.values if v is None)
        events += check.observe(MissingItems, place, items=missing, total=len(field.values), sampled=sampled)
        types: Dict[str, List[int]] = {}
        for i, value in field.values:
            if value is not None:
                types.setdefault(_describe(value), []).append(i)
        events += check.observe(TypeChanges, place, types=types, sampled=sampled, is_label=field.is_label)
        converted = ((i, _as_tensor(v)) for i, v in field.values)
        tensors = [(i, t) for i, t in converted if t is not None and _is_numeric(t)]
        if not tensors:
            continue
        dtype = collections.Counter(t.dtype for _, t in tensors).most_common(1)[0][0]
        if dtype.is_floating_point:
            floats[field.name] = (dtype, field.is_label)
        if stacked:
            events += observe_field(check, place, tensors[0][1], None, field.is_label, num_classes)
        else:
            events += _check_items(check, place, tensors, dtype, field.is_label, num_classes, sampled)
    float_dtypes = tuple(sorted({dtype_name(d) for d, _ in floats.values()}))
    for name, (dtype, is_label) in floats.items():
        events += check.observe(
            FloatField, _field_place(name, stacked), dtype=dtype_name(dtype), is_label=is_label,
            float_dtypes=float_dtypes,
        )
    return events


def _check_items(check: Check, place: Place, tensors, dtype, is_label, num_classes, sampled: str):
    """Events of one field over the sampled Dataset items."""
    shapes: Dict[str, List[int]] = {}
    for i, t in tensors:
        shapes.setdefault(str(tuple(t.shape)), []).append(i)
    events = check.observe(ShapeChanges, place, shapes=shapes, sampled=sampled)
    indices = [i for i, _ in tensors]
    small = len(shapes) == 1 and tensors[0][1].numel() <= check.sampling.max_columns
    if small:  # a scalar or a feature row: stacked, the field reads like a batch, column by column
        # The widest dtype keeps every value (a stray float among ints, a NaN) intact.
        widest = functools.reduce(torch.promote_types, {t.dtype for _, t in tensors})
        data = torch.stack([t.reshape(-1).to(widest) for _, t in tensors])
        data = data.squeeze(1) if data.shape[1] == 1 else data
        return events + observe_field(check, place, data, indices, is_label, num_classes)
    # Larger items (images, sequences) are summarized item by item, within the bound on kept values.
    numbers = Numbers(check.sampling, parts=len(tensors))
    for i, t in tensors:
        numbers.add(t.unsqueeze(0), [i])
    image_like = min(t.ndim for _, t in tensors) >= 2
    return events + observe_numbers(
        check, place, numbers, dtype, is_label, num_classes, scalar=False, image_like=image_like, column=False
    )
