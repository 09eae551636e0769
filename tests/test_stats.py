"""tb_lossdiag.stats: every fused statistic against a plain numpy/torch reference."""

import math

import numpy as np
import pytest
import torch

from tb_lossdiag import stats as S


def _reference_moments(x):
    a = x.double().numpy().ravel()
    return a.sum(), (a * a).sum(), np.count_nonzero(a)


def test_activation_stats_of_a_plain_module_match_numpy():
    """sum, sum of squares, non-zeros and the input sum equal numpy's."""
    torch.manual_seed(0)
    out, inp = torch.randn(16, 5).relu(), torch.randn(16, 3)
    total, total_sq, nonzero, in_sum, flagged, whole = S.activation_stats(out, inp, None).tolist()
    ref_sum, ref_sq, ref_nonzero = _reference_moments(out)
    assert total == pytest.approx(ref_sum, rel=1e-5) and total_sq == pytest.approx(ref_sq, rel=1e-5)
    assert nonzero == ref_nonzero and flagged == 0 and whole == total
    assert in_sum == pytest.approx(inp.double().sum().item(), rel=1e-5, abs=1e-5)


def test_relu_dead_units_counted_per_channel():
    """Units (dim 1) that are zero for every sample and position are the dead ones."""
    out = torch.rand(4, 6, 3, 3)
    out[:, [1, 4]] = 0.0
    values = S.activation_stats(out, None, "relu").tolist()
    assert values[4] == 2
    assert values[2] == np.count_nonzero(out.numpy())


def test_relu_dead_units_counted_along_the_last_dim_of_a_sequence():
    """[N, T, C] after a Linear: the C features are the units, whatever happens along T."""
    out = torch.rand(4, 7, 5)
    out[..., [0, 3]] = 0.0
    out[:, 2] = 0.0  # one time step all zero: not a unit
    assert S.activation_stats(out, None, "relu", unit_dim=-1).tolist()[4] == 2
    assert S.activation_stats(out, None, "relu").tolist()[4] == 1  # dim 1 would count time steps


def test_dead_units_of_single_examples_come_from_counts_over_several_forwards():
    """One example at a time: a unit is dead when it was 0 in every forward counted."""
    forwards = [torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 0.0, 2.0])]
    assert S.unit_nonzeros(forwards[0], 0).tolist() == [0.0, 1.0, 0.0]
    seen = sum(S.unit_nonzeros(x, 0) for x in forwards)
    values = S.activation_stats(forwards[1], None, "relu", unit_dim=0, seen=seen).tolist()
    assert values[4] == 1 and values[2] == 1  # unit 0 dead; non-zeros of this forward alone


@pytest.mark.parametrize("kind,stuck_value,free_value", [("sigmoid", 0.999, 0.5), ("tanh", -0.995, 0.1)])
def test_saturated_values_counted(kind, stuck_value, free_value):
    """Every output value in the flat region counts, whichever unit and sample it belongs to."""
    out = torch.full((10, 3), free_value)
    out[:, 0] = stuck_value
    out[:5, 1] = stuck_value
    assert S.activation_stats(out, None, kind).tolist()[4] == 15


def test_nan_shows_in_the_sum():
    """A NaN anywhere makes the sum non-finite: the cheap finiteness test."""
    out = torch.ones(8, 4)
    out[3, 2] = float("nan")
    assert math.isnan(S.activation_stats(out, None, None).tolist()[0])
    assert math.isnan(S.finiteness_probe(out).item())


def test_a_nan_outside_the_measured_rows_shows_in_the_whole_sum():
    """Statistics of the first rows only, yet a NaN in a later row of the batch is seen."""
    out = torch.ones(64, 4)
    out[40, 1] = float("nan")
    values = S.activation_stats(out[:16], None, "relu", out).tolist()
    assert values[:3] == [64.0, 64.0, 64.0] and math.isnan(values[5])


def test_half_precision_sums_do_not_overflow():
    """A float16 tensor summing past 65504 still gives a finite sum (float32 accumulation)."""
    x = torch.full((1000,), 100.0, dtype=torch.float16)
    assert S.finiteness_probe(x).item() == pytest.approx(1e5)
    assert S.input_stats(x).tolist()[1] == pytest.approx(1e7)


def test_input_stats_match_numpy():
    """sum, sum of squares and max |x|."""
    x = torch.randn(7, 5) * 30
    total, total_sq, absmax = S.input_stats(x).tolist()
    ref_sum, ref_sq, _ = _reference_moments(x)
    assert total == pytest.approx(ref_sum, rel=1e-4, abs=1e-3) and total_sq == pytest.approx(ref_sq, rel=1e-5)
    assert absmax == pytest.approx(np.abs(x.numpy()).max())


def test_nonfinite_counts_per_column_and_total():
    """2-D: counts per column; other shapes: one total."""
    x = torch.zeros(5, 4)
    x[0, 1], x[2, 1], x[4, 3] = float("nan"), float("inf"), -float("inf")
    assert S.nonfinite_counts(x).tolist() == list(np.sum(~np.isfinite(x.numpy()), axis=0))
    assert S.nonfinite_counts(x.reshape(2, 2, 5)).tolist() == [3]


def test_norms_match_torch_linalg():
    """The fused norms equal one vector_norm per tensor."""
    tensors = [torch.randn(3, 4), torch.randn(7), torch.randn(2, 2, 2)]
    expected = [torch.linalg.vector_norm(t).item() for t in tensors]
    assert S.norms(tensors).tolist() == pytest.approx(expected, rel=1e-6)
    assert S.norms([]).numel() == 0


def test_update_norms_are_the_change():
    """[||after - before||...]."""
    before = [torch.ones(4), torch.zeros(2)]
    after = [torch.ones(4) * 2, torch.tensor([3.0, 4.0])]
    assert S.update_norms(before, after).tolist() == pytest.approx([2.0, 5.0])


def test_operand_stats():
    """Division: min |x| and exact zeros; log: min and values <= 0."""
    x = torch.tensor([-3.0, 0.0, 2.0, 1e-12])
    assert S.operand_stats(x, "div").tolist() == pytest.approx([0.0, 1.0])
    assert S.operand_stats(x, "log").tolist() == pytest.approx([-3.0, 2.0])


def test_to_host_splits_one_transfer_back():
    """Every tensor comes back as its own list of floats, shapes flattened, in order."""
    tensors = [torch.tensor(1.5), torch.arange(3.0), torch.zeros(0), torch.ones(2, 2, dtype=torch.float64)]
    assert S.to_host(tensors) == [[1.5], [0.0, 1.0, 2.0], [], [1.0] * 4]



@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_all_finite_finds_one_bad_value_in_any_kind_of_tensor(bad):
    """Dense, sparse (its stored values), complex, empty and huge-but-finite tensors."""
    sparse = torch.sparse_coo_tensor([[0, 2]], [1.0, 2.0], (4,))
    healthy = [torch.ones(3), sparse, torch.ones(2, dtype=torch.complex64), torch.zeros(0), torch.full((2,), 3e38)]
    assert S.all_finite(healthy) and S.all_finite([])
    broken_sparse = torch.sparse_coo_tensor([[0, 2]], [1.0, bad], (4,))
    broken_complex = torch.tensor([complex(1.0, bad)])
    for broken in (torch.tensor([0.0, bad]), broken_sparse, broken_complex):
        assert not S.all_finite(healthy + [broken])

def test_moments_match_numpy():
    """Mean and population std from the sum and the sum of squares."""
    a = np.random.default_rng(0).normal(3.0, 2.0, 1000)
    mean, std = S.moments(a.sum(), (a * a).sum(), a.size)
    assert mean == pytest.approx(a.mean()) and std == pytest.approx(a.std())
    assert all(math.isnan(v) for v in S.moments(0.0, 0.0, 0))


def test_global_grad_norm_of_step_stats():
    """sqrt of the sum of squared per-parameter norms; None when nothing was measured."""
    assert S.StepStats(step=0, sampled=True, grad_norms={"a": 3.0, "b": 4.0}).grad_norm == 5.0
    assert S.StepStats(step=0, sampled=False).grad_norm is None


@pytest.fixture
def one_rank_mesh():
    """A one-rank gloo process group and its CPU device mesh, torn down afterwards."""
    import socket

    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        yield init_device_mesh("cpu", (1,))
    finally:
        dist.destroy_process_group()


def test_dtensors_are_measured_on_this_ranks_shard(one_rank_mesh):
    """Norms, to_host and the input statistics read a DTensor's local values (no DTensor op, which
    could redistribute), and say how many ranks hold each value."""
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    values = torch.arange(6.0).reshape(3, 2)
    sharded = distribute_tensor(values, one_rank_mesh, [Shard(0)])
    replicated = distribute_tensor(values, one_rank_mesh, [Replicate()])
    assert S.to_host([sharded, S.norms([sharded, replicated])]) == [
        values.ravel().tolist(), [pytest.approx(float(values.norm()))] * 2]
    assert S.to_host([S.input_stats(sharded)])[0] == pytest.approx([15.0, 55.0, 5.0])
    assert [type(t) for t in S.local([sharded, values])] == [torch.Tensor, torch.Tensor]
    assert (S.replicas(sharded), S.replicas(replicated), S.replicas(values)) == (1, 1, None)
