"""A real OpenID Provider for the sign-in tests: panva's oidc-provider on Debian's Node, run from
dev/oidc/provider.mjs on a free loopback port, as two issuers (ThaID-like and Digital-ID-like).

The keys are made here so that the bad-token tests can sign with the provider's own key (the
only way to get a well-signed token with a wrong audience, issuer or expiry).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from joserfc.jwk import ECKey, RSAKey

from ckanext.dgaaccounts.tests.conftest import free_port

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), *[".."] * 5))
SITE = "http://127.0.0.1:5000"  # ckan.site_url of test.ini
PID = "1101700203451"

THAID_ACCOUNTS = {
    "somchai": {"sub": "thaid-somchai", "pid": PID, "name_th": "สมชาย ใจดี",
                "name_en": "Somchai Jaidee", "ial": 2.3, "email": "somchai@dga.or.th",
                "email_verified": True},
    "malee": {"sub": "thaid-malee", "pid": "3100500123456", "name_th": "มาลี ศรีสุข",
              "name_en": "Malee Srisuk", "ial": 1.1, "email": "malee@example.com",
              "email_verified": False},
}
DIGITALID_ACCOUNTS = {
    "somchai": {"sub": "did-8f2c", "name_th": "สมชาย ใจดี", "name_en": "Somchai Jaidee",
                "email": "somchai@dga.or.th", "email_verified": True, "ial_level": 2.3,
                "organization_id": "0994000164882", "organization_id_verified": True,
                "citizen_id_verified": True, "login_via": "thaid", "pid": PID},
}
PROFILE = ["name_th", "name_en"]
THAID_CLAIMS = {"openid": ["sub"], "profile": PROFILE, "email": ["email", "email_verified"],
                "pid": ["pid"], "ial": ["ial"]}
DIGITALID_CLAIMS = {"openid": ["sub"], "profile": PROFILE,
                    "email": ["email", "email_verified"], "pid": ["pid"],
                    "organization": ["organization_id", "organization_id_verified",
                                     "ial_level", "citizen_id_verified", "login_via"]}


class RunningProvider:
    """One oidc-provider process: its issuer, client and private signing key."""

    def __init__(self, name: str, process: subprocess.Popen, issuer: str, client: dict[str, Any],
                 key: Any, log_path: str) -> None:
        self.name, self.process, self.issuer, self.client = name, process, issuer, client
        self.key, self.log_path = key, log_path

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def config(self) -> dict[str, str]:
        """The CKAN options for this provider."""
        prefix = f"ckanext.dgaaccounts.oidc.{self.name}."
        options = {"discovery_url": self.discovery_url, "client_id": self.client["client_id"],
                   "client_secret": self.client["client_secret"]}
        if self.name == "thaid":
            options.update(scopes="openid profile email pid ial", title_th="ThaID",
                           title_en="ThaID")
        else:
            options.update(scopes="openid profile email pid organization", title_th="ดิจิทัลไอดี",
                           title_en="Digital ID", claims="ial=ial_level")
        return {prefix + k: v for k, v in options.items()}

    def log_tail(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()[-3000:]


@pytest.fixture(scope="session")
def oidc_node_modules() -> str:
    """dev/oidc/install.sh (npm ci, idempotent); fails clearly without Node."""
    if shutil.which("node") is None:
        pytest.fail("node is missing: the OpenID Provider of these tests runs on Node.js. "
                    "Run dev/oidc/install.sh (installs Debian's nodejs and npm) or "
                    "apt-get install nodejs npm.")
    result = subprocess.run([os.path.join(REPO, "dev", "oidc", "install.sh")],
                            capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(f"dev/oidc/install.sh failed:\n{result.stderr[-2000:]}")
    return result.stdout.strip().splitlines()[-1]


def start_provider(node_modules: str, workdir: str, name: str, sites: list[str],
                   **extra: Any) -> RunningProvider:
    """Start one provider for ``name`` (thaid or digitalid) that accepts callbacks of ``sites``."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    alg = "RS256" if name == "thaid" else "ES256"
    parameters = {"kid": f"{name}-1", "alg": alg, "use": "sig"}
    key = (RSAKey.generate_key(2048, parameters=parameters, private=True) if alg == "RS256"
           else ECKey.generate_key("P-256", parameters=parameters, private=True))
    jwk = key.as_dict(private=True)
    client = {
        "client_id": f"ckan-{name}", "client_secret": f"secret-{name}-0123456789",
        "redirect_uris": [f"{site}/user/oidc/{name}/callback" for site in sites],
        "post_logout_redirect_uris": [f"{site}/user/logged_out_redirect" for site in sites]
        + [f"{site}/user/logout" for site in sites],
        "id_token_signed_response_alg": alg,
    }
    config = {"issuer": issuer, "port": port, "clients": [client], "jwks": {"keys": [jwk]},
              "claims": THAID_CLAIMS if name == "thaid" else DIGITALID_CLAIMS,
              "accounts": THAID_ACCOUNTS if name == "thaid" else DIGITALID_ACCOUNTS, **extra}
    path = os.path.join(workdir, f"{name}-{port}.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f)
    log_path = path + ".log"
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen(
            ["node", os.path.join(REPO, "dev", "oidc", "provider.mjs"), path],
            stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "DGA_OIDC_NODE_MODULES": node_modules})
    running = RunningProvider(name, process, issuer, client, key, log_path)
    deadline = time.monotonic() + 60  # Node starts slowly on a loaded machine
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the provider {name} exited:\n{running.log_tail()}")
        try:
            if requests.get(running.discovery_url, timeout=1).ok:
                return running
        except requests.RequestException:
            pass
        time.sleep(0.1)
    stop_provider(running)
    raise AssertionError(f"the provider {name} did not start:\n{running.log_tail()}")


def stop_provider(running: RunningProvider) -> None:
    if running.process.poll() is None:
        running.process.terminate()
        try:
            running.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait()


@pytest.fixture(scope="session")
def oidc_servers(oidc_node_modules, tmp_path_factory) -> Iterator[dict[str, RunningProvider]]:
    """Both providers, for the whole session (they keep no state a test relies on)."""
    workdir = str(tmp_path_factory.mktemp("oidc"))
    servers: dict[str, RunningProvider] = {}
    try:
        for name in ("thaid", "digitalid"):
            servers[name] = start_provider(oidc_node_modules, workdir, name, [SITE])
        yield servers
    finally:
        for running in servers.values():
            stop_provider(running)


@pytest.fixture
def oidc(oidc_servers, ckan_config, monkeypatch) -> dict[str, RunningProvider]:
    """CKAN configured with both providers (and nothing of theirs kept from another test)."""
    from ckanext.dgaaccounts import oidc as oidc_module

    monkeypatch.setattr(oidc_module, "_CACHE", {})
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.oidc.providers", "thaid digitalid")
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.identity_hmac_secret",
                        "test-identity-hmac-secret")
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.oidc.timeout", 3)
    for running in oidc_servers.values():
        for key, value in running.config().items():
            monkeypatch.setitem(ckan_config, key, value)
    return oidc_servers


_FORM = re.compile(r'<form[^>]*action="([^"]+)"')
_PROMPT = re.compile(r'name="prompt" value="(\w+)"')


def provider_login(authorize_url: str, login: str, *, site: str = SITE,
                   http: requests.Session | None = None) -> str:
    """Sign in at the provider as a person would (its login form, then its consent form) with a
    real HTTP client; returns the callback address the provider sends the browser back to."""
    http = http or requests.Session()
    url = authorize_url
    for _ in range(20):
        response = http.get(url, allow_redirects=False, timeout=10)
        while response.status_code in (302, 303):
            url = urljoin(url, response.headers["Location"])
            if url.startswith(site):
                return url
            response = http.get(url, allow_redirects=False, timeout=10)
        assert response.status_code == 200, (response.status_code, response.text[:500])
        form, prompt = _FORM.search(response.text), _PROMPT.search(response.text)
        assert form
        assert prompt, response.text[:1000]
        data = {"prompt": prompt.group(1)}
        if data["prompt"] == "login":
            data.update(login=login, password="any")
        response = http.post(urljoin(url, form.group(1)), data=data, allow_redirects=False,
                             timeout=10)
        assert response.status_code in (302, 303), (response.status_code, response.text[:500])
        url = urljoin(url, response.headers["Location"])
        if url.startswith(site):
            return url
    raise AssertionError("the provider never sent the browser back")


def local(url: str) -> str:
    """Path and query of a portal address, for CKAN's test client."""
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")
