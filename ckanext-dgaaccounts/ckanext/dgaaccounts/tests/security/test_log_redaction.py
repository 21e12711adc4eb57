"""Link tokens never reach the logs: the verification link's token and any ``token=`` or
``key=`` in a URL are written as ``***`` by the loggers that write request paths, CKAN's own
request line and the development server's (werkzeug) access line."""
from __future__ import annotations

import contextlib
import logging
import urllib.error
import urllib.request

import pytest

from ckanext.dgaaccounts.tests.serving import serve

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]

SECRET = "Zq8sEcReT-link-token-4711"


@pytest.fixture
def request_logs(caplog, monkeypatch):
    """Every record of the request loggers, on every CKAN version (test.ini stops ``ckan``
    from propagating to the root logger, where caplog listens)."""
    monkeypatch.setattr(logging.getLogger("ckan"), "propagate", True)
    caplog.set_level(logging.INFO)
    for name in ("ckan", "werkzeug"):
        caplog.set_level(logging.INFO, logger=name)
    return caplog


def _lines(caplog, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


@pytest.mark.parametrize("path", [
    f"/dgaaccounts/verify/{SECRET}",
    f"/th/dgaaccounts/verify/{SECRET}",
    f"/dgaaccounts/tokens/revoke-all/someone/{SECRET}",
])
def test_ckans_request_line_carries_no_link_token(app, request_logs, path):
    """(CKAN writes the path without the query string.)"""
    app.get(path)
    lines = _lines(request_logs, "ckan.config.middleware.flask_app")
    assert any("render time" in line for line in lines), "CKAN's request line was seen"
    assert SECRET not in request_logs.text
    assert any("***" in line for line in lines), lines


@pytest.mark.parametrize(("path", "written"), [
    (f"/dgaaccounts/verify/{SECRET}", "GET /dgaaccounts/verify/*** "),
    (f"/dgaaccounts/register/sent?token={SECRET}", "GET /dgaaccounts/register/sent?token=*** "),
    (f"/api/3/action/status_show?key={SECRET}&x=1", "GET /api/3/action/status_show?key=***&x=1 "),
    (f"/dgaaccounts/tokens/revoke-all/someone/{SECRET}",
     "GET /dgaaccounts/tokens/revoke-all/someone/*** "),
    (f"/user/oidc/thaid/callback?code={SECRET}&state={SECRET}",
     "GET /user/oidc/thaid/callback?code=***&state=*** "),
])
def test_the_development_servers_access_line_carries_no_link_token(app, request_logs, path,
                                                                   written):
    # an unknown link is refused with a page: the request line is what counts
    with serve(app.app) as server, contextlib.suppress(urllib.error.HTTPError):
        urllib.request.urlopen(server.url + path, timeout=30).read()
    lines = _lines(request_logs, "werkzeug")
    assert any(written in line for line in lines), lines
    assert SECRET not in request_logs.text
