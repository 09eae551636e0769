"""Which scalar tags are losses, and which of those are validation losses."""

import dataclasses
import re
from typing import Callable, FrozenSet, Union

TagRule = Union[str, Callable[[str], bool]]

DEFAULT_LOSS_RULE = "loss"
# A tag part that names a held-out split: "loss/val", "val_loss", "Loss/validation", "eval/loss".
_VALIDATION = re.compile(r"(^|[^a-z])(val|valid|validation|eval|evaluation|test|dev|holdout)([^a-z]|$)", re.I)


def _names_a_split(tag: str) -> bool:
    return _VALIDATION.search(tag) is not None


DEFAULT_VALIDATION_RULE: TagRule = _names_a_split


@dataclasses.dataclass(frozen=True)
class Substring:
    """Tags containing `text` in any case (a reader finds their records by these bytes)."""

    text: str

    def __call__(self, tag: str) -> bool:
        return self.text.lower() in tag.lower()


@dataclasses.dataclass(frozen=True)
class Exactly:
    """Exactly these tags, e.g. the loss tags a DiagWriter recorded."""

    tags: FrozenSet[str]

    def __call__(self, tag: str) -> bool:
        return tag in self.tags


def matcher(rule: TagRule, name: str) -> Callable[[str], bool]:
    """A predicate tag -> bool from a substring (case-insensitive) or a function."""
    if callable(rule):
        return rule
    if isinstance(rule, str):
        return Substring(rule)
    raise TypeError(f"{name} must be a substring or a function tag -> bool, got {type(rule).__name__}")
