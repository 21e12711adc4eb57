"""The size limit holds while the body arrives: 413 before Werkzeug spools an oversized body.

The limit under test is 2 MiB (``upload_max_size``) plus the default 256 KiB allowance. Bodies of
12 MB (with a ``Content-Length``) and of up to 200 MB (chunked, no length) are generated on the
fly and count what the server takes from them: the refusal must come at the limit, with nothing
left in the temporary folder or the private store.
"""
from __future__ import annotations

import json
import os
import select
import socket
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ckanext.dgaaccounts import bodylimit
from ckanext.dgaaccounts.tests.conftest import PDF, registration, stored_files
from ckanext.dgaaccounts.tests.serving import serve

MIB = 1024 * 1024
UPLOAD_LIMIT = 2 * MIB
ALLOWANCE = 256 * 1024
BODY_LIMIT = UPLOAD_LIMIT + ALLOWANCE
# What the server may read past the limit before refusing: the read that crosses it.
SLACK = 64 * 1024 + 1

ENGLISH = "The request is too large."
THAI = "คำขอมีขนาดใหญ่เกินไป"

pytestmark = [
    pytest.mark.ckan_config("ckan.plugins", "dgaaccounts"),
    pytest.mark.ckan_config("ckanext.dgaaccounts.upload_max_size", str(UPLOAD_LIMIT)),
    pytest.mark.usefixtures("with_plugins", "clean_db"),
]


class MultipartBody:
    """A multipart body of ``size`` bytes made on the fly: form fields, then a file part.

    ``served`` counts the bytes anyone read from it: what the server took from the client.
    """

    def __init__(self, size: int, fields: dict[str, str] | None = None,
                 file_name: str = "form.pdf", content: bytes | None = None) -> None:
        self.boundary = uuid.uuid4().hex
        head = b"".join(
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            .encode() for k, v in (fields or {}).items())
        head += (f'--{self.boundary}\r\nContent-Disposition: form-data; name="signed_form"; '
                 f'filename="{file_name}"\r\nContent-Type: application/pdf\r\n\r\n').encode()
        tail = f"\r\n--{self.boundary}--\r\n".encode()
        if content is not None:
            head += content
            size = len(head) + len(tail)
        self.size = size
        self._parts = [head, tail]
        self._filler_left = size - len(head) - len(tail)
        assert self._filler_left >= 0
        self.served = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size
        out = b""
        if self._parts[0]:
            out, self._parts[0] = self._parts[0][:n], self._parts[0][n:]
        if len(out) < n and self._filler_left:
            take = min(n - len(out), self._filler_left)
            out += b"%" * take
            self._filler_left -= take
        if len(out) < n and not self._filler_left:
            rest = n - len(out)
            out, self._parts[1] = out + self._parts[1][:rest], self._parts[1][rest:]
        self.served += len(out)
        return out

    def readline(self, n: int = -1) -> bytes:  # Werkzeug only uses read(); kept for safety
        return self.read(n)

    # Werkzeug's test client measures the stream with seek/tell before the request.
    _at_end = False

    def tell(self) -> int:
        return self.size if self._at_end else self.served

    def seek(self, offset: int, whence: int = 0) -> int:
        self._at_end = whence == 2
        return self.tell()

    def close(self) -> None:
        pass

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        while chunk := self.read(size):
            yield chunk


@pytest.fixture
def temp_dir(tmp_path, monkeypatch) -> str:
    """Werkzeug spools uploads with ``tempfile``: point it at a folder the test can watch."""
    path = tmp_path / "spool"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return str(path)


def post(app: Any, url: str, body: MultipartBody, *, chunked: bool) -> Any:
    """POST ``body`` through CKAN's test client, with a length or as a chunked body."""
    headers = {"Content-Type": body.content_type}
    kw: dict[str, Any] = {"input_stream": body, "headers": headers}
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
        # What a WSGI server that de-chunks sets (Werkzeug's, gunicorn): no CONTENT_LENGTH.
        kw["environ_overrides"] = {"wsgi.input_terminated": True, "CONTENT_LENGTH": ""}
    return app.post(url, **kw)


PAGES = ["/dgaaccounts/register/agency", "/dgaaccounts/request/00000000-0000/upload",
         "/th/dgaaccounts/register/agency"]
APIS = ["/api/3/action/dgaaccounts_agency_register", "/api/action/dgaaccounts_agency_register",
        "/api/3/action/dgaaccounts_request_document_upload"]


@pytest.mark.parametrize("url", PAGES)
def test_a_declared_length_over_the_limit_is_refused_before_reading(app, url, temp_dir):
    body = MultipartBody(12 * MIB)
    res = post(app, url, body, chunked=False)
    assert res.status_code == 413
    assert body.served == 0  # not one byte of the body was read
    page = res.get_data(as_text=True)
    assert ENGLISH in page
    assert THAI in page
    assert "2 MB" in page
    assert res.headers["Content-Type"].startswith("text/html")
    assert res.headers["Connection"] == "close"
    assert os.listdir(temp_dir) == []


@pytest.mark.parametrize("url", PAGES)
def test_a_chunked_body_is_refused_when_it_crosses_the_limit(app, url, temp_dir, storage_root):
    body = MultipartBody(12 * MIB)
    res = post(app, url, body, chunked=True)
    assert res.status_code == 413
    assert BODY_LIMIT < body.served <= BODY_LIMIT + SLACK
    page = res.get_data(as_text=True)
    assert ENGLISH in page
    assert THAI in page
    assert os.listdir(temp_dir) == []
    assert stored_files(storage_root) == []


@pytest.mark.parametrize("url", APIS)
@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_the_api_answers_413_in_ckan_json(app, url, chunked, temp_dir):
    body = MultipartBody(12 * MIB)
    res = post(app, url, body, chunked=chunked)
    assert res.status_code == 413
    assert body.served <= BODY_LIMIT + SLACK
    answer = json.loads(res.get_data(as_text=True))
    assert answer["success"] is False
    assert answer["error"]["__type"] == "Request Entity Too Large"
    assert ENGLISH in answer["error"]["message_en"]
    assert THAI in answer["error"]["message_th"]
    assert os.listdir(temp_dir) == []


def test_the_limit_includes_the_allowance_for_the_form(app, temp_dir):
    at_limit = MultipartBody(BODY_LIMIT)
    res = post(app, "/api/3/action/dgaaccounts_agency_register", at_limit, chunked=True)
    # Through the door, read to the end: the action then answers with its field errors.
    assert res.status_code == 409
    assert at_limit.served == BODY_LIMIT
    over = MultipartBody(BODY_LIMIT + 1)
    assert post(app, "/api/3/action/dgaaccounts_agency_register", over,
                chunked=False).status_code == 413


def test_the_limit_follows_the_upload_option(app, temp_dir, ckan_config, monkeypatch):
    monkeypatch.setitem(ckan_config, "ckanext.dgaaccounts.upload_max_size", 10 * MIB)
    body = MultipartBody(5 * MIB)
    res = post(app, "/api/3/action/dgaaccounts_agency_register", body, chunked=True)
    assert res.status_code == 409  # under 10 MB + allowance: the action decides
    assert body.served == body.size


@pytest.mark.parametrize("chunked", [False, True], ids=["length", "chunked"])
def test_a_registration_under_the_limit_still_works(app, chunked, smtp, storage_root):
    fields = {k: str(v) for k, v in registration().items()}
    body = MultipartBody(0, fields=fields, content=PDF)
    res = post(app, "/api/3/action/dgaaccounts_agency_register", body, chunked=chunked)
    assert res.status_code == 200, res.get_data(as_text=True)
    assert res.json["success"] is True
    assert len(stored_files(storage_root)) == 1


def test_other_ckan_requests_are_not_limited(app):
    # CKAN's own endpoints keep their own limits (e.g. ckan.max_resource_size).
    body = json.dumps({"padding": "x" * (3 * MIB)})
    res = app.post("/api/3/action/status_show", data=body,
                   headers={"Content-Type": "application/json"})
    assert res.status_code == 200


@pytest.mark.parametrize(("path", "ours"), [
    ("/dgaaccounts/register/agency", True),
    ("/th/dgaaccounts/request/x/upload", True),
    ("/ckan-admin/dgaaccounts/request/x/approve", True),
    ("/user/register", True),
    ("/user/reset", True),
    ("/api/3/action/dgaaccounts_request_document_upload", True),
    ("/api/action/dgaaccounts_agency_register", True),
    ("/api/3/action/resource_create", False),
    ("/dataset/new", False),
    ("/user/edit/x", False),
    ("/api/3/action/package_search", False),
])
def test_which_requests_are_the_extensions(path, ours):
    assert bodylimit.applies_to({"PATH_INFO": path}) is ours


# -- over real HTTP ----------------------------------------------------------------------------

class Tap:
    """Outermost WSGI layer of the test server: counts what the app read from the socket."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.read = 0
        self.status = ""

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        stream = environ["wsgi.input"]
        tap = self

        class Counting:
            def read(self, n: int = -1) -> bytes:
                data = stream.read(n)
                tap.read += len(data)
                return data

            def readline(self, n: int = -1) -> bytes:
                data = stream.readline(n)
                tap.read += len(data)
                return data

        environ["wsgi.input"] = Counting()

        def start(status: str, headers: Any, exc_info: Any = None) -> Any:
            tap.status = status
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


@pytest.fixture
def served(make_app, ckan_config, monkeypatch) -> Iterator[tuple[int, Tap]]:
    import logging

    monkeypatch.setattr(logging.getLogger("werkzeug"), "level", logging.WARNING)
    tap = Tap(make_app().app)
    with serve(tap) as server:
        yield server.port, tap


def send(port: int, body: MultipartBody, *, chunked: bool, path: str) -> tuple[bytes, int]:
    """Send ``body`` over a socket, stopping when the server answers; (answer, bytes sent)."""
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {body.content_type}"]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {body.size}")
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent, answer = 0, b""
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        # A server that refuses on the length answers now: give it the chance first.
        readable, _w, _x = select.select([sock], [], [], 2.0)
        for chunk in ([] if readable else body.chunks()):
            frame = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
            try:
                sock.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
            if select.select([sock], [], [], 0)[0]:
                break
        try:
            while data := sock.recv(65536):
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass  # the server closed with unread bytes in flight: the tap has the truth
    finally:
        sock.close()
    return answer, sent


def test_over_http_a_declared_length_is_refused_before_the_body_is_sent(served, temp_dir):
    port, tap = served
    answer, sent = send(port, MultipartBody(12 * MIB), chunked=False,
                        path="/dgaaccounts/register/agency")
    assert answer.startswith(b"HTTP/1.1 413")
    assert THAI.encode() in answer
    assert sent == 0
    assert tap.read == 0
    assert os.listdir(temp_dir) == []


@pytest.mark.parametrize("path", ["/dgaaccounts/register/agency",
                                  "/api/3/action/dgaaccounts_agency_register"])
def test_over_http_a_200_mb_chunked_body_stops_at_the_limit(served, temp_dir, path):
    port, tap = served
    body = MultipartBody(200 * MIB)
    _answer, sent = send(port, body, chunked=True, path=path)
    assert tap.status.startswith("413")
    assert tap.read <= BODY_LIMIT + 2 * SLACK  # + chunk framing
    assert sent < 50 * MIB  # the client was stopped long before the end
    assert os.listdir(temp_dir) == []
