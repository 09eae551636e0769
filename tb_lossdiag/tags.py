"""Which scalar tags are losses, and which of those are validation losses."""

import re
from typing import Callable, Union

TagRule = Union[str, Callable[[str], bool]]

DEFAULT_LOSS_RULE = "loss"
# A tag part that names a held-out split: "loss/val", "val_loss", "Loss/validation", "eval/loss".
_VALIDATION = re.compile(r"(^|[^a-z])(val|valid|validation|eval|evaluation|test|dev|holdout)([^a-z]|$)", re.I)
DEFAULT_VALIDATION_RULE: TagRule = _VALIDATION.search


def matcher(rule: TagRule, name: str) -> Callable[[str], bool]:
    """A predicate tag -> bool from a substring (case-insensitive) or a function."""
    if callable(rule):
        return rule
    if isinstance(rule, str):
        return lambda tag: rule.lower() in tag.lower()
    raise TypeError(f"{name} must be a substring or a function tag -> bool, got {type(rule).__name__}")
