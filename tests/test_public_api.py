"""The public API is small and explicit: __all__ is exactly what users import."""

import tb_lossdiag

PUBLIC = [
    "DiagWriter",
    "DiagnosticError",
    "Detector",
    "Event",
    "LossPoint",
    "RunEvents",
    "check_dataframe",
    "default_detectors",
    "rank_log_dir",
    "read_logdir",
]


def test_all_is_the_documented_public_api():
    """Adding or removing a public name is a deliberate change to this list and the README."""
    assert tb_lossdiag.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(tb_lossdiag, name) is not None
