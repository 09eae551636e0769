"""What watch() writes beside the detectors' records: a dozen diag/ scalars on each sampled step,
and every 10th sampled step a per-layer table. A sharded model's ranks also write their parts of
the job's global norms (diag/shard/*), which the reader combines: no rank ever asks another."""

import math

from tensorboard.compat.proto import summary_pb2

from tb_lossdiag import stats as S
from tb_lossdiag.reader import SHARD_PREFIX

_TABLE_EVERY = 10  # sampled steps between two per-layer tables (a text record costs ~0.2 ms)


class SummaryWriting:
    """Writes a sampled step's summaries through the DiagWriter's public methods."""

    def __init__(self, writer, layer_table: bool):
        self._writer = writer
        self._layer_table = layer_table
        self._sampled_count = 0

    def write(self, stats: S.StepStats) -> None:
        """The summary scalars in ONE record, and the per-layer table as one text record."""
        scalars = summary_scalars(stats)
        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, simple_value=value) for tag, value in scalars.items()]
        )
        self._writer.write_summary(summary, stats.step)
        table_due = self._sampled_count % _TABLE_EVERY == 0
        self._sampled_count += 1
        if self._layer_table and table_due and (stats.layers or stats.activations):
            self._writer.add_text("diag/layers", layer_table(stats), stats.step)


def summary_scalars(stats: S.StepStats):
    """A dozen chartable tags under diag/: totals and extremes, never one tag per layer; under
    FSDP, diag/grad_norm is this rank's shard's and diag/shard/* its part of the global norms."""
    scalars = {}
    if stats.grad_norms:
        scalars["diag/grad_norm"] = stats.grad_norm
        scalars["diag/grad_nonfinite"] = sum(not math.isfinite(v) for v in stats.grad_norms.values())
    ratios = [layer.update_ratio for layer in stats.layers if layer.update_ratio is not None]
    if ratios:
        scalars["diag/update_ratio_max"] = max(ratios)
        scalars["diag/update_ratio_min"] = min(ratios)
    if stats.grad_scale is not None:
        scalars["diag/grad_scale"] = stats.grad_scale
    for i, lr in enumerate(stats.lrs[:4]):
        scalars["diag/lr" if i == 0 else f"diag/lr/group{i}"] = lr
    acts = stats.activations
    if acts:
        numel = sum(a.numel for a in acts)
        scalars["diag/act_zero_fraction"] = sum(a.zero_fraction * a.numel for a in acts) / numel
        scalars["diag/act_std_min"] = min(a.std for a in acts)
        scalars["diag/act_std_max"] = max(a.std for a in acts)
        scalars["diag/act_nonfinite_layers"] = sum(not a.finite for a in acts)
    floats = [i for i in stats.inputs if i.mean is not None]
    if floats:
        scalars["diag/input_mean"] = floats[0].mean
        scalars["diag/input_rms"] = floats[0].rms
    if stats.inputs:
        scalars["diag/input_nonfinite"] = sum(i.nonfinite for i in stats.inputs)
    shard = stats.shard
    if shard is not None:  # marked as a shard's: the reader sums these over a job, never DDP's copies
        parts = {"grad_norm": shard.grad, "weight_norm": shard.weight, "update_norm": shard.update,
                 "updated_weight_norm": shard.updated_weight, "ranks": shard.ranks}  # reader.SHARD_NAMES
        scalars.update({SHARD_PREFIX + name: value for name, value in parts.items()})
    return scalars


def layer_table(stats: S.StepStats) -> str:
    """Per-layer detail as one markdown table (TensorBoard's Text tab)."""
    rows = ["| layer | grad norm | update/weight |", "|---|---|---|"]
    rows += [f"| {l.name or '(root)'} | {l.grad_norm:.3g} | "
             f"{'' if l.update_ratio is None else format(l.update_ratio, '.3g')} |" for l in stats.layers]
    rows += ["", "| module | kind | mean | std | zero frac |", "|---|---|---|---|---|"]
    rows += [f"| {a.name} | {a.kind} | {a.mean:.3g} | {a.std:.3g} | {a.zero_fraction:.2f} |"
             for a in stats.activations]
    return "\n".join(rows)
