"""Batch files: what watch(guard=True) keeps of a non-finite step, and how it is described."""

import pytest
import torch

from tb_lossdiag import batchfile


def _saved(tmp_path, payload):
    path = str(tmp_path / "batch-7.pt")
    batchfile.save(path, payload)
    return path


def test_describe_names_the_rows_and_columns_holding_nan_and_the_ranges(tmp_path):
    """A [32, 6] batch with NaN at (3, 2) and Inf at (9, 2) and (9, 5): rows 3, 9; columns 2, 5;
    the finite range; an integer target's range; a mask's count of True."""
    x = torch.arange(32 * 6, dtype=torch.float32).reshape(32, 6) / 10
    x[3, 2], x[9, 2], x[9, 5] = float("nan"), float("inf"), float("-inf")
    path = _saved(tmp_path, {"step": 7, "reason": "the loss is nan",
                             "forwards": [{"args": [batchfile.portable(x)],
                                           "kwargs": {"mask": torch.tensor([True, False, True])}}],
                             "target": torch.tensor([0, 4, 2])})
    lines = batchfile.describe(path).splitlines()
    assert lines[0] == f"{path}: the batch of step 7 (the loss is nan)"
    assert lines[1] == ("  args[0]: float32 [32, 6], NaN 1, Inf 2 of 192, in rows 3, 9 (2 of 32), columns 2, 5 "
                        "(2 of 6), finite values 0 .. 19.1")
    assert lines[2] == "  kwargs['mask']: bool [3], 2 True"
    assert lines[3] == "  target: int64 [3], values 0 .. 4"
    assert len(lines) == 4


def test_many_bad_rows_are_listed_up_to_eight_then_counted(tmp_path):
    """An all-NaN column in 40 rows: 8 row numbers, then how many more."""
    x = torch.zeros(40, 3)
    x[:, 1] = float("nan")
    text = batchfile.describe_tensor("x", x)
    assert "in rows 0, 1, 2, 3, 4, 5, 6, 7 and 32 more (40 of 40), columns 1 (1 of 3)" in text
    assert batchfile.describe_tensor("y", torch.full((2,), float("nan"))).endswith("no finite value")


def test_several_forwards_of_one_step_are_told_apart(tmp_path):
    """Gradient accumulation: each micro-batch's arguments under 'forward N'; no target is said so."""
    path = _saved(tmp_path, {"step": 1, "reason": "r", "target": None,
                             "forwards": [{"args": [torch.ones(2)], "kwargs": {}}, {"args": [torch.ones(3)], "kwargs": {}}]})
    text = batchfile.describe(path)
    assert "forward 0 args[0]: float32 [2]" in text and "forward 1 args[0]: float32 [3]" in text
    assert "no loss target" in text


def test_portable_keeps_tensors_on_the_cpu_and_other_objects_as_text():
    """What torch.load(weights_only=True) reads back: tensors detached, containers, repr of the rest."""
    value = batchfile.portable((torch.ones(2, requires_grad=True), {"k": 3, "obj": object()}, None))
    assert not value[0].requires_grad and value[1]["k"] == 3 and value[1]["obj"].startswith("<object object")
    assert batchfile.nbytes([value, {"t": torch.zeros(4, dtype=torch.float64)}]) == 2 * 4 + 4 * 8


def test_a_file_that_is_no_batch_file_says_so(tmp_path):
    """A torch file of another kind names what a batch file is."""
    path = str(tmp_path / "weights.pt")
    torch.save({"weight": torch.ones(2)}, path)
    with pytest.raises(ValueError, match="not a tb_lossdiag batch file"):
        batchfile.load(path)


def test_a_file_torch_cannot_read_is_a_value_error(tmp_path):
    """Text, or an empty file: a ValueError naming the file, not the unpickler's KeyError."""
    for content in ("hello", ""):
        path = tmp_path / "x.pt"
        path.write_text(content)
        with pytest.raises(ValueError, match="x.pt is not a tb_lossdiag batch file"):
            batchfile.load(str(path))


def test_the_sample_indices_are_printed_per_forward(tmp_path):
    """watch(loader=...) files name each forward's samples; an unknown one says so."""
    path = _saved(tmp_path, {"step": 2, "reason": "r", "target": None, "indices": [[3, 17, 8], None],
                             "forwards": [{"args": [torch.ones(3)], "kwargs": {}}, {"args": [torch.ones(3)], "kwargs": {}}]})
    lines = batchfile.describe(path).splitlines()
    assert lines[1:3] == ["  forward 0 sample indices: [3, 17, 8]", "  forward 1 sample indices: not known"]
