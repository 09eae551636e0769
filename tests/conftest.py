"""Shared fixtures: every test writes into its own temporary log directory."""

import pytest


@pytest.fixture
def logdir(tmp_path):
    """A fresh log directory path (as a string, as most users pass it)."""
    return str(tmp_path / "runs")
