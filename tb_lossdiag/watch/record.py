"""StepRecord: one training step's Python facts, and the device tensors awaiting the one host transfer."""

from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import torch

if TYPE_CHECKING:  # the probes' entry types (their modules import this one)
    from tb_lossdiag.watch.activations import ActivationEntry
    from tb_lossdiag.watch.gradients import GradientEntry
    from tb_lossdiag.watch.inputs import InputEntry
    from tb_lossdiag.watch.operands import OperandEntry
    from tb_lossdiag.watch.updates import LearningRates, UpdateEntry


class StepRecord:
    """One training step as the probes fill it; each probe's entries are typed (see its module)."""

    __slots__ = ("step", "sampled", "tensors", "values", "forwarded", "inputs", "held_inputs",
                 "activations", "operands", "loss_read", "model_read", "gradients", "flagged",
                 "not_cleared", "update", "lrs", "facts", "scale")

    def __init__(self, step: int, sampled: bool):
        self.step = step
        self.sampled = sampled
        self.tensors: List[torch.Tensor] = []  # small statistic tensors, read in one transfer
        self.values: List[List[float]] = []  # their values, once read
        self.forwarded = False  # a training forward ran in this step
        self.inputs: List["InputEntry"] = []
        # An unsampled CPU step's inputs, counted if the step is flagged; dropped at the step's end.
        self.held_inputs: List[Tuple[str, torch.Tensor]] = []
        self.activations: List["ActivationEntry"] = []
        self.operands: List["OperandEntry"] = []
        self.loss_read = False  # the loss-side graph was read
        self.model_read = False  # the model-side graph was read
        self.gradients: Optional["GradientEntry"] = None  # once the gradients are measured
        self.flagged: Optional[bool] = None  # an unsampled step's gradient probe found something
        self.not_cleared: List[str] = []  # parameters whose .grad was the last step's at backward
        self.update: Optional["UpdateEntry"] = None  # a sampled step with an optimizer
        self.lrs: Optional["LearningRates"] = None
        self.facts: Dict[str, Tuple[str, ...]] = {}  # StepStats parameter facts of a sampled step
        self.scale: Optional[int] = None  # slot of the GradScaler's scale (sampled steps)

    def add(self, tensor: torch.Tensor) -> int:
        """Keep a small statistic tensor for the transfer; its slot index in `values`."""
        self.tensors.append(tensor)
        return len(self.tensors) - 1

    @property
    def measured(self) -> bool:
        """The step's gradients were measured (or probed and found calm)."""
        return self.gradients is not None or self.flagged is not None

    @property
    def on_device(self) -> bool:
        return any(not t.is_cpu for t in self.tensors)



def first_tensor(value) -> Optional[torch.Tensor]:
    """The first tensor of a module's output or arguments (one level into tuples, lists, dicts)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        return next((v for v in value if isinstance(v, torch.Tensor)), None)
    if isinstance(value, dict):
        return next((v for v in value.values() if isinstance(v, torch.Tensor)), None)
    return None
