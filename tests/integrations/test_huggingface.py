"""LossDiagCallback in a real transformers Trainer on CPU: its findings land in the Trainer's TensorBoard run."""

import math
import os

# No network: nothing here is downloaded, and no tracker may try to report.
os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1",
                  WANDB_DISABLED="true", WANDB_MODE="disabled", DISABLE_MLFLOW_INTEGRATION="TRUE")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments  # noqa: E402

from tb_lossdiag import read_logdir  # noqa: E402
from tb_lossdiag.integrations.huggingface import LossDiagCallback  # noqa: E402

STEPS = 12
BATCH = 16
SEQUENCE = 8
WIDTH = 16


def _model():
    """A one-layer BERT regressor made from its config: a real PreTrainedModel, nothing downloaded."""
    torch.manual_seed(0)
    config = BertConfig(vocab_size=32, hidden_size=WIDTH, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=SEQUENCE, num_labels=1)
    model = BertForSequenceClassification(config)
    model.bert.embeddings.word_embeddings.requires_grad_(False)  # fed inputs_embeds, it gets no gradient
    return model


def _rows(nan_row=None):
    """STEPS batches of {"inputs_embeds", "labels"} rows; with `nan_row`, that row holds a NaN."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(STEPS * BATCH, SEQUENCE, WIDTH, generator=g)
    y = x.mean(dim=(1, 2))
    if nan_row is not None:
        x[nan_row, 2, 3] = float("nan")
    return [{"inputs_embeds": xi, "labels": yi} for xi, yi in zip(x, y)]


def _arguments(output_dir, **overrides):
    options = dict(output_dir=str(output_dir), max_steps=STEPS, per_device_train_batch_size=BATCH,
                   learning_rate=1e-3, logging_steps=1, use_cpu=True, save_strategy="no",
                   report_to="none", disable_tqdm=True)
    return TrainingArguments(**{**options, **overrides})


def _train(output_dir, rows, **overrides):
    """Train the model; the runs below output_dir, by name, with their loss and grad_norm curves."""
    args = _arguments(output_dir, **overrides)
    Trainer(model=_model(), args=args, train_dataset=rows, eval_dataset=_rows()[:2 * BATCH],
            callbacks=[LossDiagCallback()]).train()
    runs = read_logdir(str(output_dir), loss_tags=lambda tag: tag.startswith(("train/", "eval/")))
    return {run.run: run for run in runs}


def test_nan_row_is_diagnosed_in_the_trainers_run(tmp_path):
    """The batch with the NaN row: nonfinite_input at the step where the Trainer's own grad_norm turns
    NaN, in its TensorBoard run (runs/<date>_<host>), whose train/loss is written once per step."""
    (name, run), = _train(tmp_path, _rows(nan_row=100)).items()
    assert name.startswith("runs" + os.sep)
    first_nan = next(step for step, value, _ in run.curves["train/grad_norm"] if math.isnan(value))
    assert ("nonfinite_input", first_nan) in {(event.kind, event.step) for event in run.events}
    assert min(event.step for event in run.events) == first_nan
    assert [step for step, _, _ in run.curves["train/loss"]] == list(range(1, STEPS + 1))


def test_healthy_model_raises_no_warning_or_error(tmp_path, recwarn):
    """Training and evaluation losses are diagnosed and no warning or error is raised."""
    (_, run), = _train(tmp_path, _rows(), eval_strategy="steps", eval_steps=4).items()
    assert run.record_tags  # diagnosed by a DiagWriter
    assert [event.kind for event in run.events if event.severity != "info"] == []
    assert {"train/loss", "eval/loss"} <= set(run.curves)
    assert not [w for w in recwarn if "tb_lossdiag" in str(w.message)]


def test_report_to_tensorboard_as_well_is_told_the_fix(tmp_path):
    """A second TensorBoard writer would write every scalar twice: refused when the Trainer is made."""
    with pytest.raises(ValueError, match='report_to="none"'):
        Trainer(model=_model(), args=_arguments(tmp_path, report_to=["tensorboard"]),
                train_dataset=_rows(), callbacks=[LossDiagCallback()])


def test_import_without_transformers_names_the_extra(import_without):
    """Without transformers installed, the import error says which pip command fixes it."""
    with pytest.raises(ImportError, match=r'pip install "tb_lossdiag\[huggingface\]"'):
        import_without("tb_lossdiag.integrations.huggingface", "transformers")
