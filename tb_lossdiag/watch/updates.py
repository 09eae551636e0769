"""The updates probe, a two-step measure: a strided sample of each parameter before
optimizer.step() and again after it; the norm of the change estimates each layer's update ratio
(of a sharded parameter: of this rank's shard). Also the learning rates the step used."""

import dataclasses
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch

from tb_lossdiag import stats as S
from tb_lossdiag.watch.parameters import Parameters

_UPDATE_SAMPLE = 4096  # values per parameter whose change estimates its update ratio


def _stride(numel: int) -> int:
    """Every how many values of a parameter its update sample takes one (1: all of a small one)."""
    return max(1, numel // _UPDATE_SAMPLE)


@dataclasses.dataclass
class UpdateEntry:
    """A sampled step's update measure: the samples before step(), then the slot of the change."""

    indices: List[int]  # the parameters sampled (those the optimizer applies)
    before: Optional[Sequence[torch.Tensor]]  # until step() has run
    slot: Optional[int] = None  # S.update_norms, once step() has run


class LearningRates(NamedTuple):
    """The step's learning rates per param group: floats, or the slot of tensor ones (capturable)."""

    lrs: Tuple[float, ...] = ()
    slot: Optional[int] = None

    def read(self, values) -> Tuple[float, ...]:
        return tuple(values[self.slot]) if self.slot is not None else self.lrs


class UpdateProbe:
    """Measures how far optimizer.step() moves each parameter, relative to its size."""

    def __init__(self, parameters: Parameters):
        self._parameters = parameters

    def before(self, record) -> None:
        """Before step(): keep the samples (a strided sample costs a few KiB, a clone of all MiBs)."""
        indices = self._parameters.measured
        with torch.no_grad():
            record.update = UpdateEntry(indices, torch._foreach_mul(self._samples(indices), 1.0))

    def after(self, record) -> None:
        """After step(): queue the norm of each sample's change."""
        entry = record.update
        if entry is None or entry.before is None:
            return
        with torch.no_grad():
            entry.slot = record.add(S.update_norms(entry.before, self._samples(entry.indices)))
        entry.before = None

    def delta_squares(self, record) -> List[Tuple[int, float]]:
        """(parameter index, squared norm of its whole update, estimated from the sample) of a read record."""
        entry = record.update
        if entry is None or entry.slot is None:
            return []
        numel = self._parameters.numel
        found = []
        for index, delta in zip(entry.indices, record.values[entry.slot]):
            size = numel[index]
            sampled = -(-size // _stride(size)) or 1  # values in its sample (an empty shard has none)
            found.append((index, delta ** 2 * size / sampled))
        return found

    def _samples(self, indices: Sequence[int]) -> List[torch.Tensor]:
        """Every _stride-th value of each parameter (on this rank), the same ones each call."""
        named = self._parameters.named
        flats = [t.reshape(-1) for t in S.local([named[i][1] for i in indices])]
        return [flat[::_stride(flat.numel())] for flat in flats]


def learning_rates(record, optimizer) -> None:
    """Keep the step's learning rates; a tensor lr rides along with the transfer (no sync)."""
    lrs = [group["lr"] for group in optimizer.param_groups]
    tensor_lr = next((lr for lr in lrs if isinstance(lr, torch.Tensor)), None)
    if tensor_lr is None:
        record.lrs = LearningRates(lrs=tuple(float(lr) for lr in lrs))
    else:
        device = tensor_lr.device
        record.lrs = LearningRates(slot=record.add(torch.stack(
            [torch.as_tensor(lr, dtype=torch.float32, device=device).reshape(()) for lr in lrs])))
