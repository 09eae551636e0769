"""LossDiagCallback: tb_lossdiag's diagnostics in a PyTorch Lightning Trainer's TensorBoard run.

Design: at fit start the TensorBoardLogger's SummaryWriter is replaced by a DiagWriter on the same
run directory, so everything Lightning logs (`self.log("train_loss", ...)`, `"val_loss"`, ...) is
written once, as before, and diagnosed on the way. With automatic optimization the loss
training_step returns is also written, every step, under `step_loss_tag`, with its autograd graph,
so the loss-graph checks (softmax into nll_loss or cross_entropy, broadcast targets...) run too. The model and its
optimizer are watched (`DiagWriter.watch`); the model is the module training_step feeds the batch
to, whose forward hooks see the inputs and activations: `module="net"` names it, else it is the
LightningModule when it defines forward() (training_step calls self(x)), else its one submodule
with trainable parameters.

Optimization modes:
- automatic optimization: Lightning runs training_step and backward inside `optimizer.step(closure)`;
  watch() runs that closure first in its pre-step hook, so it measures this step's gradients.
- manual optimization with one optimizer: the same, the closure being Lightning's empty one; the
  losses are those you `self.log` (training_step returns no loss to Lightning then).
- several optimizers (manual optimization): the model is watched without an optimizer, so a step
  is one backward pass, and the optimizer-side checks (frozen parameters, update ratios, missing
  zero_grad) are off.

DDP: rank 0 swaps the logger's writer; rank N (whose logger writes nothing) writes its own run
`<log_dir>/rankN`, as `tb_lossdiag.rank_log_dir` does for plain PyTorch.
"""

import warnings
from typing import Any, Mapping, Optional

import torch

from tb_lossdiag.integrations import grad_scaler, guarded, require
from tb_lossdiag.writer import DiagWriter, rank_log_dir

pl = require("lightning.pytorch", "PyTorch Lightning", "lightning")
TensorBoardLogger = pl.loggers.TensorBoardLogger
Callback: Any = pl.Callback  # a base class from a module imported at run time


class LossDiagCallback(Callback):
    """Diagnoses the losses a Lightning Trainer logs and watches its model, in the TensorBoardLogger's run.

    `module`: the name of the submodule training_step feeds the batch to (e.g. "net"; see above).
    `writer_options` go to DiagWriter (loss_tags=, validation_tags=, tune=, disable=, stop_on_error=...);
    `watch_options` to DiagWriter.watch (every=, activations=...). `step_loss_tag=None` leaves out
    the per-step loss of training_step.
    """

    def __init__(self, module: Optional[str] = None, step_loss_tag: Optional[str] = "training_step/loss",
                 watch_options: Optional[Mapping] = None, **writer_options):
        self.module = module
        self.step_loss_tag = step_loss_tag
        self.watch_options = dict(watch_options or {})
        self.writer_options = writer_options
        self.writer: Optional[DiagWriter] = None

    def on_fit_start(self, trainer, pl_module):
        """Make the DiagWriter and find the model (a wrong option raises here, before any step), then watch."""
        self.writer = self._make_writer(trainer)
        self._watch(trainer, self._model_of(pl_module))

    @guarded
    def on_before_backward(self, trainer, pl_module, loss):
        """Write the loss training_step returned (automatic optimization: one per micro-batch)."""
        if self.writer is None or self.step_loss_tag is None or not pl_module.automatic_optimization:
            return
        # Lightning hands over that loss divided by accumulate_grad_batches, scaled back here: the
        # graph checks look through both scalings by a constant to the user's loss function.
        accumulate = trainer.accumulate_grad_batches
        value = loss * accumulate if accumulate != 1 else loss
        self.writer.add_scalar(self.step_loss_tag, value, trainer.global_step)

    def teardown(self, trainer, pl_module, stage):
        """At the end of fit: take the hooks off and write what is pending."""
        if stage == "fit":
            self._close()

    def on_exception(self, trainer, pl_module, exception):
        """A failed fit (DiagnosticError from stop_on_error=True included) still closes the writer."""
        self._close()

    def _make_writer(self, trainer) -> DiagWriter:
        logger = next((lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None)
        if logger is None:
            raise ValueError(
                "LossDiagCallback writes into the run of a TensorBoardLogger, and this Trainer has none: "
                "pass Trainer(logger=TensorBoardLogger(save_dir)) (or leave `logger` at its default)"
            )
        shared_dir = trainer.log_dir  # a broadcast from rank 0: every rank must ask
        if trainer.global_rank != 0:
            return DiagWriter(rank_log_dir(shared_dir), **self.writer_options)
        current = logger.experiment
        if isinstance(current, DiagWriter):  # a second fit with the same logger
            return current
        writer = DiagWriter(current.log_dir, max_queue=current.max_queue, flush_secs=current.flush_secs,
                            filename_suffix=current.filename_suffix, **self.writer_options)
        current.close()
        # TensorBoardLogger has no setter for its writer; from here on all it logs goes through ours.
        logger._experiment = writer
        return writer

    @guarded
    def _watch(self, trainer, model):
        options = {"first_step": trainer.global_step, **self.watch_options}
        if len(trainer.optimizers) != 1:
            self.writer.watch(model, **options)
            return
        optimizer = trainer.optimizers[0]
        scaler = grad_scaler(getattr(trainer.precision_plugin, "scaler", None))
        self.writer.watch(model, optimizer, scaler=scaler, **options)

    def _model_of(self, pl_module) -> torch.nn.Module:
        """The module training_step feeds the batch to (see the module docstring)."""
        if self.module is not None:
            return pl_module.get_submodule(self.module)
        if type(pl_module).forward is not pl.LightningModule.forward:
            return pl_module
        trainable = [name for name, child in pl_module.named_children()
                     if any(p.requires_grad for p in child.parameters())]
        if len(trainable) == 1:
            return pl_module.get_submodule(trainable[0])
        warnings.warn(
            f"LossDiagCallback cannot tell which submodule of {type(pl_module).__name__} training_step "
            f"feeds the batch to (trainable ones: {', '.join(trainable) or 'none'}), so the input and "
            "activation checks are off: name it, LossDiagCallback(module=\"<name>\"), or define "
            "forward() and call self(x) in training_step",
            RuntimeWarning, stacklevel=2,
        )
        return pl_module

    def _close(self):
        if self.writer is not None:
            self.writer.close()
