"""Schedule: which training steps watch() samples (measures in full)."""

_CALM_SAMPLES = 5  # calm sampled steps in a row after which the sampling interval doubles


class Schedule:
    """Which steps are sampled: those with `step % interval == 0`, the interval starting at `every`,
    doubling after every _CALM_SAMPLES calm sampled steps up to `max_every`, back to `every` at
    any alarm."""

    def __init__(self, every: int, max_every: int):
        self.every = every
        self.max_every = max_every
        self.interval = every
        self.calm = 0  # sampled steps in a row without a warning or error

    def sampled(self, step: int) -> bool:
        return step % self.interval == 0

    def checks(self, step: int) -> bool:
        """Whether an every-step check (gradients left uncleared) runs at `step`: at each step while
        every `every`th step is sampled (a run's start and after any alarm, where a loop's faults
        show), then at one in `interval` (a forgotten zero_grad() is in the loop from its start, and
        a check that finds one is an alarm)."""
        return self.interval == self.every or step % self.interval == 0

    def adapt(self, alarmed: bool, sampled: int) -> None:
        """After steps were read: `alarmed` when anything looked wrong, `sampled` steps among them."""
        if alarmed:
            self.interval, self.calm = self.every, 0
            return
        self.calm += sampled
        if self.calm >= _CALM_SAMPLES and self.interval < self.max_every:
            self.interval, self.calm = min(2 * self.interval, self.max_every), 0
