"""A WSGI app served over real HTTP on loopback, in threads of the test process, that never
outlives its test.

``werkzeug``'s threaded server handles each request in a daemon thread, and ``shutdown()``
only stops accepting: a request still running (a browser's last fetch, a form's POST whose
emails are still being sent) would go on into the next test, holding a database session in
the middle of a commit while that test empties the database. :func:`serve` counts the
requests inside the app until their response is closed; leaving it stops accepting, waits
for those to finish, and answers 503 to anything a kept-alive connection still sends.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

DRAIN_TIMEOUT = 60.0  # seconds a request may still run when its test ends


class Draining:
    """WSGI middleware: the requests inside ``app`` (until their response is closed or their
    thread has ended), and ``closed`` to refuse any more."""

    def __init__(self, app: Any) -> None:
        self.app = app
        # request number -> ("METHOD /path", the thread serving it)
        self.running: dict[int, tuple[str, threading.Thread]] = {}
        self.closed = False
        self._changed = threading.Condition()
        self._numbers = iter(range(1, 1 << 62))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        with self._changed:
            if self.closed:
                start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
                return [b"the test server is stopping\n"]
            number = next(self._numbers)
            self.running[number] = (f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}",
                                    threading.current_thread())
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self._finished(number)
            raise
        return _Closing(body, lambda: self._finished(number))

    def _finished(self, number: int) -> None:
        with self._changed:
            self.running.pop(number, None)
            self._changed.notify_all()

    def close(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """Refuse new requests and wait for the running ones; a request still running after
        ``timeout`` is an error that names it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            self.closed = True
            while True:
                self.running = {number: (name, thread) for number, (name, thread)
                                in self.running.items() if thread.is_alive()}
                left = deadline - time.monotonic()
                if not self.running:
                    return
                if left <= 0:
                    frames = sys._current_frames()
                    raise AssertionError(
                        f"requests still running {timeout:.0f} s after their test ended:\n"
                        + "\n".join(f"{name}, at\n" + "".join(traceback.format_stack(
                            frames[thread.ident])) for name, thread in self.running.values()
                            if thread.ident in frames))
                self._changed.wait(min(left, 0.05))


class _Closing:
    """The app's response, iterated as it is, and ``done`` called once when the server
    closes it (the WSGI server always does, also after an error while writing)."""

    def __init__(self, body: Iterable[bytes], done: Any) -> None:
        self.body = body
        self.done = done

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.done()


@dataclass
class Served:
    url: str
    port: int
    app: Draining


@contextlib.contextmanager
def serve(app: Any) -> Iterator[Served]:
    """Serve ``app`` on a loopback port the kernel picks (bound before its URL is known, so
    no other server can take it); on leaving, nothing of it is still running."""
    from werkzeug.serving import make_server

    draining = Draining(app)
    server = make_server("127.0.0.1", 0, draining, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server",
                              kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", server.server_port, draining)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        try:
            draining.close()
        finally:
            server.server_close()
