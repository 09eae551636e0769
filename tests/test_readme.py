"""README.md stays true: its catalogue names every detector, and its two commands are what CI runs."""

import pathlib

from tb_lossdiag.detectors import BUILTIN

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DATA_KINDS = ("missing_values", "stray_index_column", "empty_strings", "outlier_values",
              "dtype_inconsistency", "unnormalized_input", "nonfinite_values", "shape_inconsistency",
              "label_dtype", "label_range")


def test_catalogue_lists_every_built_in_and_data_kind():
    """Each kind a user can meet has a row `| `kind` | ...` in the detector catalogue."""
    catalogue = README[README.index("## Detector catalogue"):README.index("## The command line")]
    for kind in [cls.id for cls in BUILTIN] + list(DATA_KINDS):
        assert f"| `{kind}` |" in catalogue, kind


def test_quick_start_commands_are_the_ones_ci_runs():
    """The README's two commands exist in the Makefile, and .ci/run runs `make test`."""
    makefile = (ROOT / "Makefile").read_text()
    assert "make demo" in README and "make test" in README
    assert "\ndemo:" in makefile and "\ntest:" in makefile
    assert "make test" in (ROOT / ".ci" / "run").read_text()
