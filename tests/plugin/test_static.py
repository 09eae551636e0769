"""The plugin's static route, its metadata and its activation."""

import pytest

from tb_lossdiag import metadata
from tb_lossdiag.plugin.plugin import STATIC_DIR

from .conftest import route


@pytest.fixture
def client(logdir, client_for):
    return client_for(logdir)[0]


def test_bundle_is_served_as_a_javascript_module_with_nosniff(client):
    """index.js: the committed bundle, JavaScript, nosniff."""
    response = client.get(route("static/index.js"))
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_data() == (STATIC_DIR / "index.js").read_bytes()
    assert b"render" in response.get_data()


@pytest.mark.parametrize(
    "path",
    [
        "static/..%2findex.js",
        "static/..%2f..%2fplugin.py",
        "static/../plugin.py",
        "static/%2e%2e/plugin.py",
        "static/..%5cplugin.py",
        "static/%2fetc%2fpasswd",
        "static/",
        "static/nothing.js",
        "static/index.js%00.css",
    ],
)
def test_static_route_rejects_path_traversal_and_unknown_files(client, path):
    """Only files of the bundle are served: no traversal, no other file of the package."""
    response = client.get(route(path))
    assert response.status_code == 404
    assert b"import" not in response.get_data()


def test_frontend_metadata_names_the_tab_and_the_module(client_for, logdir):
    """The tab is "Loss Diagnostics", an ES module at /static/index.js."""
    _, plugin = client_for(logdir)
    meta = plugin.frontend_metadata()
    assert meta.tab_name == metadata.TAB_NAME == "Loss Diagnostics"
    assert meta.es_module_path == "/static/index.js"
    assert "/static/*" in plugin.get_plugin_apps()


def test_plugin_is_listed_with_its_tab(client):
    """TensorBoard's plugin listing shows lossdiag as an iframed ES module."""
    response = client.get("/data/plugins_listing")
    entry = response.get_json()[metadata.PLUGIN_NAME]
    assert entry["tab_name"] == "Loss Diagnostics"
    assert entry["loading_mechanism"] == {"type": "IFRAME", "module_path": "/data/plugin/lossdiag/static/index.js"}
