"""Fixtures of the plugin tests: the plugin over a temporary log directory, behind a test client."""

import pytest
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tb_lossdiag import metadata
from tb_lossdiag.plugin.plugin import LossDiagPlugin


def make_provider(logdir):
    """TensorBoard's data provider over `logdir`, keeping every lossdiag record as the loader asks."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={metadata.PLUGIN_NAME: 0})
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    return data_provider.MultiplexerDataProvider(multiplexer, logdir)


def make_client(logdir):
    """(A werkzeug test client of TensorBoard serving the plugin over `logdir`, the plugin)."""
    provider = make_provider(logdir)
    plugin = LossDiagPlugin(base_plugin.TBContext(logdir=logdir, data_provider=provider))
    app = application.TensorBoardWSGI([plugin], data_provider=provider)
    return werkzeug_test.Client(app, wrappers.Response), plugin


@pytest.fixture
def client_for():
    """make_client, as a fixture."""
    return make_client


def route(name):
    """The URL of one of the plugin's routes."""
    return f"/data/plugin/{metadata.PLUGIN_NAME}/{name}"
