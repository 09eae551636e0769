"""`tb-lossdiag scan`: diagnose runs already on disk, written by any writer (here a plain SummaryWriter).

    python examples/scan_existing_logs.py [LOGDIR]   (default: runs/scan)

It writes a run the way Lightning, Keras or a hand-written loop would (loss scalars, no tb_lossdiag
while training), then runs, as you would in a shell:

    tb-lossdiag scan LOGDIR            # print each run's findings
    tb-lossdiag scan LOGDIR --write    # also write them beside the run, for the Loss Diagnostics tab

Expected: loss_divergence on loss/train, then nonfinite_loss.
"""

import math
import subprocess
import sys

from torch.utils.tensorboard import SummaryWriter


def write_plain_run(logdir: str) -> None:
    """A loss that falls for 100 steps, then climbs 5% a step until it overflows."""
    with SummaryWriter(logdir) as writer:
        for step in range(200):
            loss = 2.0 * math.exp(-step / 30) + 0.1 if step < 100 else 0.2 * 1.05 ** (step - 100)
            writer.add_scalar("loss/train", loss if step < 190 else math.inf, step)


def main(logdir: str) -> None:
    """Write the run, then scan it with the command line (python -m tb_lossdiag is tb-lossdiag)."""
    write_plain_run(logdir)
    subprocess.run([sys.executable, "-m", "tb_lossdiag", "scan", logdir, "--write"], check=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/scan")
