"""tb_lossdiag.robust: levels, spreads and trends that outliers barely move."""

import numpy as np

from tb_lossdiag.robust import (diff_sigma, log_noise, median, rank_trend, robust_sigma, row_diff_sigmas,
                                row_log_noises, row_medians)


def test_median_and_sigma_ignore_an_outlier_for_lists_and_arrays():
    """One value of 1e6 among unit-normal noise moves neither the median nor the spread."""
    xs = np.random.default_rng(0).standard_normal(1001)
    xs[0] = 1e6
    for data in (xs, xs.tolist()):
        assert abs(median(data)) < 0.1
        assert 0.9 < robust_sigma(data) < 1.1
    assert median([3.0, 1.0, 2.0, 10.0]) == 2.5


def test_diff_sigma_is_the_noise_not_the_trend():
    """A steep line plus noise of 0.1: the point noise is 0.1, not the line's spread."""
    xs = np.arange(500) + 0.1 * np.random.default_rng(1).standard_normal(500)
    assert 0.08 < diff_sigma(xs.tolist()) < 0.12


def test_rank_trend_sees_a_slow_fall_in_noise_and_no_trend_in_noise_or_a_constant():
    """A 2% fall under 1% noise over 100 values is a trend; noise and a constant are none."""
    rng = np.random.default_rng(2)
    noise = 0.01 * rng.standard_normal(100)
    assert rank_trend(np.linspace(1.0, 0.98, 100) + noise) < -3
    assert abs(rank_trend(1.0 + noise)) < 2
    assert rank_trend(np.full(50, 0.7)) == 0.0
    assert rank_trend(np.arange(20.0)) > 4


def test_row_statistics_give_the_bits_of_their_scalar_rules():
    """The row-wise median and noises of a replayed curve are bit for bit those of one window."""
    rng = np.random.default_rng(0)
    for width in (8, 16, 25, 32):
        rows = np.exp(rng.standard_normal((500, width))) * rng.uniform(0.1, 10, (500, 1))
        rows[::7, 3] = -rows[::7, 3]  # no log noise there
        assert row_medians(rows).tolist() == [median(row.tolist()) for row in rows]
        assert row_diff_sigmas(rows).tolist() == [diff_sigma(row.tolist()) for row in rows]
        assert [None if x != x else x for x in row_log_noises(rows).tolist()] == [log_noise(row.tolist()) for row in rows]
