"""LossDiagCallback: transformers' Trainer logging to TensorBoard through a DiagWriter.

Design: the callback is transformers' own TensorBoardCallback whose writer is a DiagWriter, so the
run directory, tags and steps are the ones `report_to="tensorboard"` gives, every scalar is written
once, and the losses the Trainer logs (`train/loss`, `eval/loss`) are diagnosed on the way. At the
start of training it watches the model and the optimizer (`DiagWriter.watch`). It replaces
`report_to="tensorboard"`, which would add a second writer.

Steps: the Trainer logs at `state.global_step`, the number of optimizer steps done, so the loss of
the first batch is at step 1; watch() numbers its steps the same way. The Trainer logs the mean
loss every `logging_steps` (and, with `logging_nan_inf_filter`, hides NaN losses), so the curve
detectors see what it logs, while watch() checks every step's inputs and gradients.

DDP: only the main process writes TensorBoard logs, and so only it diagnoses.
"""

from typing import Mapping, Optional

from tb_lossdiag.integrations import grad_scaler, guarded, require
from tb_lossdiag.writer import DiagWriter

require("transformers", "Hugging Face transformers", "huggingface")  # a missing one: an error naming the extra
from transformers.integrations import TensorBoardCallback  # noqa: E402


class LossDiagCallback(TensorBoardCallback):
    """TensorBoard logging for a transformers Trainer that diagnoses the losses it logs and watches the model.

    `writer_options` go to DiagWriter (loss_tags=, validation_tags=, tune=, disable=, stop_on_error=...);
    `watch_options` to DiagWriter.watch (every=, activations=...).
    """

    def __init__(self, watch_options: Optional[Mapping] = None, **writer_options):
        super().__init__()
        # The seam TensorBoardCallback makes its writer through (transformers 4.x and 5.x).
        self._SummaryWriter = lambda log_dir=None: DiagWriter(log_dir, **writer_options)
        self.watch_options = dict(watch_options or {})

    def on_init_end(self, args, state, control, **kwargs):
        """Refuse a second TensorBoard writer: every scalar would be written twice."""
        if "tensorboard" in args.report_to:
            raise ValueError(
                "LossDiagCallback writes the Trainer's TensorBoard logs itself, and report_to also "
                f"asks for TensorBoard ({args.report_to!r}): drop 'tensorboard' from report_to, "
                'e.g. TrainingArguments(..., report_to="none")'
            )

    def on_train_begin(self, args, state, control, **kwargs):
        """Open the run as TensorBoardCallback does (a wrong writer option raises here), then watch."""
        super().on_train_begin(args, state, control, **kwargs)
        if self.tb_writer is not None:
            self._watch(state, kwargs["model"], kwargs["optimizer"])

    @guarded
    def _watch(self, state, model, optimizer):
        # accelerate's AcceleratedOptimizer wraps the torch optimizer and runs none of its hooks.
        inner = getattr(optimizer, "optimizer", optimizer)
        options = {"first_step": state.global_step + 1, **self.watch_options}
        self.tb_writer.watch(model, inner, scaler=grad_scaler(getattr(optimizer, "scaler", None)), **options)
