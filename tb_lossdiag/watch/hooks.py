"""The plumbing of watch()'s hooks: a hook whose failure becomes an event, and a step closure run once."""

import functools

import torch


def guarded(where: str):
    """A Watch hook method whose failure becomes one diagnostic_failure event, through the
    watch's writer (a try costs nothing while nothing fails; entering the writer's guard on every
    call would)."""
    def wrap(method):
        @functools.wraps(method)
        def hook(self, *args):
            try:
                return method(self, *args)
            except Exception as error:
                with self._writer.guard(where, self._step):
                    raise error
        return hook
    return wrap


class Evaluated:
    """A closure already run once: its first call returns that result, later ones (LBFGS) run it again."""

    def __init__(self, closure):
        with torch.enable_grad():
            self._result = closure()
        self._closure = closure
        self._fresh = True

    def __call__(self):
        if self._fresh:
            self._fresh = False
            return self._result
        return self._closure()
