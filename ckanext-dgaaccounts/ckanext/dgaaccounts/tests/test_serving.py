"""The test suite's live server (tests/serving.py) never lets a request outlive its test: a
browser test's last request once ran on into the next test, which emptied the database in the
middle of that request's commit (CI, CKAN 2.12, ``IllegalStateChangeError``)."""
from __future__ import annotations

import http.client
import threading
import time

import pytest

from ckanext.dgaaccounts.tests.serving import Draining, serve


def slow_app(started: threading.Event, release: threading.Event, log: list[str]):
    def app(environ, start_response):
        started.set()
        release.wait(10)
        start_response("200 OK", [("Content-Type", "text/plain")])
        yield b"done"
        log.append("finished")  # after the last chunk: the response was fully written

    return app


def test_leaving_waits_for_a_running_request():
    started, release, log = threading.Event(), threading.Event(), []
    answers: list[int] = []
    with serve(slow_app(started, release, log)) as served:

        def fetch() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
            connection.request("GET", "/slow")
            response = connection.getresponse()
            response.read()
            answers.append(response.status)

        client = threading.Thread(target=fetch)
        client.start()
        assert started.wait(10)
        threading.Timer(0.5, release.set).start()
        began = time.monotonic()
    # the `with` ended only when the running request had finished
    assert log == ["finished"]
    assert time.monotonic() - began >= 0.4
    client.join(10)
    assert answers == [200]
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection("127.0.0.1", served.port, timeout=10).connect()


def test_a_request_that_comes_in_while_stopping_never_reaches_the_app():
    """(A connection accepted just before the server stopped accepting.)"""
    reached: list[str] = []

    def app(environ, start_response):
        reached.append(environ["PATH_INFO"])
        start_response("200 OK", [])
        return [b""]

    draining = Draining(app)
    draining.close()
    statuses: list[str] = []
    body = draining({"REQUEST_METHOD": "GET", "PATH_INFO": "/late"},
                    lambda status, headers: statuses.append(status))
    assert statuses == ["503 Service Unavailable"]
    assert b"stopping" in b"".join(body)
    assert reached == []


def test_a_request_that_never_ends_is_named():
    started, release = threading.Event(), threading.Event()
    draining = Draining(slow_app(started, release, []))
    body = draining({"REQUEST_METHOD": "POST", "PATH_INFO": "/stuck"}, lambda *a: None)
    with pytest.raises(AssertionError, match="POST /stuck"):
        draining.close(timeout=0.2)
    release.set()
    list(body)
    body.close()  # type: ignore[attr-defined]
    draining.close(timeout=1)
    assert draining.running == {}


def test_a_request_whose_response_is_never_closed_ends_with_its_thread():
    """werkzeug skips closing the response when the client resets the connection while the
    server drains what is left of the request: the request is over when its thread is."""
    def app(environ, start_response):
        start_response("200 OK", [])
        return [b"ok"]

    draining = Draining(app)
    thread = threading.Thread(target=lambda: list(draining(
        {"REQUEST_METHOD": "POST", "PATH_INFO": "/user/login"}, lambda *a: None)))
    thread.start()
    thread.join(10)
    assert [name for name, _thread in draining.running.values()] == ["POST /user/login"]
    began = time.monotonic()
    draining.close(timeout=5)
    assert time.monotonic() - began < 1
    assert draining.running == {}
