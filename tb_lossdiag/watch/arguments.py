"""watch()'s arguments, checked before anything is hooked: a wrong one raises naming the fix."""

import torch


def checked(model, optimizer, scaler, every, max_every, first_step) -> int:
    """watch()'s arguments checked before anything is hooked; max_every (default 8 x every)."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(
            f"watch() needs the model as a torch.nn.Module, got {type(model).__name__}: "
            "pass the module itself, e.g. writer.watch(model, optimizer)"
        )
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            f"watch()'s optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}: "
            "pass the optimizer whose step() trains the model, or leave it out"
        )
    if scaler is not None and not isinstance(scaler, torch.amp.GradScaler):
        raise TypeError(
            f"watch()'s scaler must be a torch.amp.GradScaler, got {type(scaler).__name__}: "
            "pass the scaler whose scale()/step()/update() the loop calls, or leave it out"
        )
    if scaler is not None and optimizer is None:
        raise ValueError("watch(scaler=...) needs the optimizer too: writer.watch(model, optimizer, scaler=scaler)")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive number of steps (e.g. every=10), got {every!r}")
    max_every = 8 * every if max_every is None else max_every
    if isinstance(max_every, bool) or not isinstance(max_every, int) or max_every < every:
        raise ValueError(f"max_every must be a number of steps >= every ({every}), got {max_every!r}; "
                         "max_every=every samples at a fixed interval")
    if isinstance(first_step, bool) or not isinstance(first_step, int) or first_step < 0:
        raise ValueError(f"first_step must be a step number >= 0, got {first_step!r}")
    return max_every
