"""Refuse a request body over the upload limit while it arrives, before Werkzeug spools it.

Werkzeug parses a multipart body (and spools its files to a temporary file) the first time a
view, or CKAN's own CSRF check, touches ``request.form`` or ``request.files``: long before any
action can look at the file's size. A 12 MB body sent against a 2 MB limit was written to disk
in full and only then refused. This WSGI middleware (installed by the plugin's IMiddleware hook
around the Flask app's ``wsgi_app``) stops it at the door:

* a ``Content-Length`` over the limit is answered 413 at once, before a byte of the body is
  read (a client that sent ``Expect: 100-continue`` never sends it);
* a body without a length (``Transfer-Encoding: chunked``) reads through a counting stream that
  raises ``BodyTooLarge`` (a 413) on the read that crosses the limit, so at most the limit plus
  one read's worth of bytes is ever read, held or spooled.

The limit is ``upload_max_size`` plus ``request_body_allowance`` (the form's other fields and
the multipart framing). It applies to the extension's own requests only: its pages
(``/dgaaccounts/...``, ``/ckan-admin/dgaaccounts/...``, and the two CKAN forms it takes over,
``/user/register`` and ``/user/reset``) and its API actions (``/api/[3/]action/dgaaccounts_*``).
Not to every multipart POST: CKAN's resource uploads have their own, usually much larger, limit
(``ckan.max_resource_size``) that is not this extension's to lower.

The answer is a page in Thai and English for browsers (the request's language first) and a
CKAN-style JSON error for the API; it carries ``Connection: close`` because the rest of the body
is never read. Flask's ``MAX_CONTENT_LENGTH`` is left alone (CKAN does not set it); Flask 3.1's
``MAX_FORM_MEMORY_SIZE`` (500 kB per text field) is above the allowance, so this limit is the
one that answers.
"""
from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from markupsafe import escape
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response
from werkzeug.wsgi import get_content_length

from ckan.plugins import toolkit as tk

from . import config

if TYPE_CHECKING:
    from babel.support import NullTranslations

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_OWN_PATH = re.compile(
    r"(?:^|/)(?:dgaaccounts/|ckan-admin/dgaaccounts(?:/|$)|user/(?:register|reset)/?$"
    r"|api/(?:\d+/)?action/dgaaccounts_)"
)
_API_PATH = re.compile(r"(?:^|/)api/")
_DOMAIN = "ckanext-dgaaccounts"
_I18N = os.path.join(os.path.dirname(os.path.abspath(__file__)), "i18n")


def N_(message: str) -> str:  # noqa: N802 - the name Babel extracts, like gettext_noop
    """Mark ``message`` for translation without translating it here."""
    return message


_MESSAGE = N_(
    "The request is too large. A signed form may be at most %(limit)s MB, and the whole "
    "request at most %(total)s MB. Choose a smaller file (scan at a lower resolution or "
    "save as a smaller PDF) and try again.")
_TITLE = N_("Request too large")


class BodyTooLarge(RequestEntityTooLarge):
    """The body crossed the limit while it was being read."""


def limit() -> int:
    """Bytes a request body to the extension may have: the file plus the form around it."""
    return config.upload_max_size() + config.request_body_allowance()


def applies_to(environ: Environ) -> bool:
    """Whether the request is one of the extension's (see the module doc)."""
    return bool(_OWN_PATH.search(environ.get("PATH_INFO") or ""))


class CappedInput:
    """``wsgi.input`` that counts what is read and raises ``BodyTooLarge`` past ``limit``.

    No read asks the server for more than one byte past the limit, so the refusal comes on
    the read that crosses it and nothing beyond is taken from the socket.
    """

    def __init__(self, stream: Any, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self.consumed = 0
        #: Set once the limit was crossed: the answer is then 413 whatever the app made of it.
        self.tripped = False

    def _allow(self, size: int | None) -> int:
        room = self._limit + 1 - self.consumed
        return room if size is None or size < 0 else min(size, room)

    def _count(self, data: bytes) -> bytes:
        self.consumed += len(data)
        if self.consumed > self._limit:
            self.tripped = True
            raise BodyTooLarge()
        return data

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            chunks = []
            while chunk := self.read(64 * 1024):
                chunks.append(chunk)
            return b"".join(chunks)
        return self._count(self._stream.read(self._allow(size)))

    def readline(self, size: int | None = -1) -> bytes:
        return self._count(self._stream.readline(self._allow(size)))

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class BodyLimitMiddleware:
    """WSGI middleware: see the module doc."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if not applies_to(environ):
            return self.app(environ, start_response)
        allowed = limit()
        length = _content_length(environ)
        if length is not None and length > allowed:
            # Refused before any of the body is read (or spooled).
            return too_large_response(environ)(environ, start_response)
        capped = CappedInput(environ["wsgi.input"], allowed)
        environ["wsgi.input"] = capped

        def start(status: str, headers: Any, exc_info: Any = None) -> Any:
            if capped.tripped:
                return lambda data: None  # replaced below
            return start_response(status, headers, exc_info)

        result = self.app(environ, start)
        if not capped.tripped:
            return result
        # Whatever caught BodyTooLarge on the way (a CSRF check that answers 400, an action
        # that turns errors into field errors), the answer is the 413.
        close = getattr(result, "close", None)
        if close is not None:
            close()
        return too_large_response(environ)(environ, start_response)


def _content_length(environ: Environ) -> int | None:
    # Werkzeug's reading: None for a chunked body or a missing or malformed header (the capped
    # stream then holds the limit).
    return get_content_length(environ)


def install(app: Any) -> Any:
    """Wrap a Flask app (CKAN's IMiddleware hands the Flask app): middleware and error page."""
    app.wsgi_app = BodyLimitMiddleware(app.wsgi_app)
    app.register_error_handler(BodyTooLarge, _handle)
    return app


def _handle(error: BodyTooLarge) -> Response:
    from flask import request

    return too_large_response(request.environ)


def too_large_response(environ: Environ) -> Response:
    """413: CKAN-style JSON for the API, a Thai and English page for browsers."""
    values = {"limit": _mb(config.upload_max_size()), "total": _mb(limit())}
    english = _MESSAGE % values
    thai = _thai(_MESSAGE) % values
    first = "th" if (environ.get("CKAN_LANG") or _default_locale()) == "th" else "en"
    if _API_PATH.search(environ.get("PATH_INFO") or ""):
        body = {
            "help": "",
            "success": False,
            "error": {"__type": "Request Entity Too Large",
                      "message": thai if first == "th" else english,
                      "message_en": english, "message_th": thai},
        }
        response = Response(json.dumps(body, ensure_ascii=False), status=413,
                            content_type="application/json;charset=utf-8")
    else:
        response = Response(_page(english, thai, first), status=413,
                            content_type="text/html; charset=utf-8")
    response.headers["Connection"] = "close"  # the rest of the body is never read
    response.headers["Cache-Control"] = "no-store"
    return response


def _page(english: str, thai: str, first: str) -> str:
    parts = [("th", _thai(_TITLE), thai), ("en", _TITLE, english)]
    if first == "en":
        parts.reverse()
    sections = "".join(
        f'<section lang="{lang}"><h1>{escape(title)}</h1><p>{escape(text)}</p></section>'
        for lang, title, text in parts)
    return (f'<!DOCTYPE html><html lang="{first}"><head><meta charset="utf-8">'
            f"<title>413 {escape(parts[0][1])}</title></head><body>{sections}</body></html>")


@functools.lru_cache(maxsize=1)
def _thai_catalog() -> NullTranslations:
    from babel.support import Translations

    return Translations.load(_I18N, ["th"], _DOMAIN)


def _thai(message: str) -> str:
    """The Thai text whatever the request's language: the page shows both."""
    return _thai_catalog().gettext(message)


def _default_locale() -> str:
    locale: str = tk.config.get("ckan.locale_default") or "en"
    return locale


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.2f}".rstrip("0").rstrip(".")
