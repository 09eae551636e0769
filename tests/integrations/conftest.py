"""What the integration tests share: importing an integration as if its framework were missing."""

import importlib
import sys

import pytest


@pytest.fixture
def import_without(monkeypatch):
    """import_without(integration, framework): import `integration` with `framework` hidden."""
    def run(integration: str, framework: str):
        hidden = [framework] + [name for name in sys.modules if name.startswith(framework + ".")]
        for name in hidden:
            monkeypatch.setitem(sys.modules, name, None)  # None: "import name" raises ImportError
        monkeypatch.delitem(sys.modules, integration, raising=False)
        return importlib.import_module(integration)
    return run
