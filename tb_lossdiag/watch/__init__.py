"""writer.watch(model, optimizer): hooks that gather each training step's model statistics.

Step numbers: a step is one optimizer.step(); the first one watched is `first_step` (default 0),
so `for step, batch in enumerate(loader)` with `add_scalar("loss/train", loss, step)` and one
optimizer.step() per batch gets events at the same steps as the loss. With gradient accumulation
every micro-batch of an optimizer step shares its number. Without an optimizer a step ends with
each backward pass.

Cost: steps with `step % interval == 0` are sampled, the interval starting at `every` (10) and
doubling after every 5 calm sampled steps up to `max_every` (8 x every): a long healthy run pays
for 1 in 80 steps, while any warning or error, or an unsampled step whose cheap checks flag
something, sets it back to `every` at once. A sampled step gets hooks on the leaf modules for its
first training forward (activation statistics of the batch's first rows, at most 32,768 values of
an output, and one NaN/Inf probe of all of it) and a pre-step hook on the optimizer (weight norms,
update ratios), and everything is read in ONE host transfer. Every other step runs only the cheap
checks, from three hooks: the model's forward hook (NaN/Inf counts of each floating input on an
accelerator; on CPU the inputs are held until the step ends and counted only if the step is
flagged, so a NaN batch is named at its own step; nothing is kept past it), one hook on the model's output that
sees, as backward starts, whether the last step's gradients were cleared, and the optimizer's
post-step hook (the norm of each of the smallest gradients it applies). On CPU they are
read at once (a read costs no sync there); on an accelerator they stay on the device and ride
along with the next sampled step's transfer, so no step adds a sync. An unsampled step reaches
the detectors only when a cheap check flags it (a non-finite value, uncleared gradients). Hooks
never keep activations: they keep only the small statistic tensors they compute. Evaluation
passes (model.eval() or no grad) are not observed.

Mixed precision: with `scaler=` (a torch.amp.GradScaler), an iteration whose optimizer step the
scaler skips (inf/NaN gradients, normal while it finds its scale) still ends a step at
`scaler.update()`, so step numbers stay those of the loop; its gradients are not measured (they
are the scaled, overflowing ones by design). Sampled steps read the scale with the other statistics.

Guard: `watch(model, optimizer, guard=True)` checks every step, before optimizer.step(), that every
gradient the optimizer holds is finite (and the loss, when it is logged before step()). A step
that is not is skipped: its gradients are dropped (.grad = None), so every torch optimizer leaves
each weight and its state (Adam's moments and step count) untouched, and the model's buffers
(BatchNorm's running statistics) are restored to what they were before the step's first forward;
a `skipped_step` event says why. After `max_skips` (10) skipped steps in a row, or at the first
such step with `guard="stop"`, DiagnosticError stops training before the weights change. At a
skipped step the forward's arguments (and the loss's target when the loss was logged before
backward()) are saved as <run>/lossdiag/batch-<step>.pt, at most `keep_batches` (3) files and
`keep_mb` (64) MB per run (`tb-lossdiag batch FILE` shows them); with `loader=` (the training
DataLoader, made with batch_size) the file names the batch's sample indices. The run's first such
step gets the NaN-origin search (watch/origin.py) on that batch. Cost: every step copies the model's
buffers and reads one finiteness flag of all gradients (their largest |value|), a sync on an
accelerator, as GradScaler.step() has; guard=False adds nothing. With an enabled `scaler=` the
scaler already skips every step with inf/NaN gradients: the guard adds nothing then. Under DDP the
gradients are all-reduced before step(): every rank skips the same step, with no communication.
"""

from tb_lossdiag.watch.core import Watch

__all__ = ["Watch"]
