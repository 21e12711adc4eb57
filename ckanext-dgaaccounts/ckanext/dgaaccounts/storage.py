"""Private storage for scans of signed application forms.

Applicants upload a scan (PDF, JPEG or PNG) of the signed form. It may only be
served later to sysadmins and to the applicant, so it must never go through
CKAN's uploader, which puts files under ``<ckan.storage_path>/storage`` where
CKAN serves them publicly.

Uploads are treated as hostile: the browser-supplied name is only a display
label, the type is decided by magic bytes, and anything that looks like markup
or PDF active content is refused. Files are stored under a server-generated
key, never under a name the user chose.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

from ckan.plugins import toolkit as tk

from . import config, pdfcheck

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"

#: Types accepted when the caller does not narrow the list.
DEFAULT_ALLOWED_TYPES: tuple[str, ...] = (PDF, JPEG, PNG)

#: Read size while streaming: small enough to keep memory flat, big enough to
#: keep the per-chunk scanning overhead low.
CHUNK_SIZE = 64 * 1024

# Extensions a name must carry for each detected type (compared lower-case).
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    PDF: (".pdf",),
    JPEG: (".jpg", ".jpeg"),
    PNG: (".png",),
}

# Short labels for messages; not translated (they are format names).
_LABELS: dict[str, str] = {PDF: "PDF", JPEG: "JPEG", PNG: "PNG"}

_KEY_RE = re.compile(r"[0-9a-f]{32}")

# Longest name most filesystems accept; a longer label is certainly not a
# genuine scan name.
_MAX_NAME_LENGTH = 255

_MIB = 1024 * 1024


# --- active-content patterns ------------------------------------------------
#
# Markup: a browser or viewer that sniffs the bytes could treat the file as
# HTML/SVG and run scripts (polyglots). Matched case-insensitively anywhere.
# Tag names must be followed by a tag-ending byte (as the WHATWG sniffing rules
# do); otherwise "<svg" would occur by chance in about 2% of 10 MB compressed
# scans and real scans would be refused.
_TAG_END = rb"[\t\n\x0c\r />]"
_MARKUP_RE = re.compile(
    rb"<(?:html|script|svg|iframe)" + _TAG_END + rb"|<!doctype|javascript:",
    re.IGNORECASE,
)


def _pdf_name_pattern(name: str, *, prefix: bool) -> bytes:
    """Regex for a PDF name such as ``/JS``, including ``#xx`` escapes.

    PDF lets any name character be written as ``#`` plus two hex digits, so
    ``/J#53`` is ``/JS``; matching only the literal spelling is trivially
    bypassed. Names are case-sensitive in PDF. Unless ``prefix`` is set, the
    name must end there (``/JSON`` is not ``/JS``), which also keeps random
    matches inside compressed streams rare.
    """
    pattern = "/"
    for char in name:
        hex_digits = f"{ord(char):02X}"
        escaped = "#" + "".join(f"[{d}{d.lower()}]" for d in hex_digits)
        pattern += f"(?:{char}|{escaped})"
    if not prefix:
        # PDF white-space and delimiter characters end a name.
        pattern += r"(?=[\x00\t\n\x0c\r ()<>\[\]{}/%])"
    return pattern.encode("ascii")


# PDF features that run code, start programs or carry other files. The
# document-level /OpenAction is harmless on its own (it is often used to set
# the initial view) and is only dangerous with /JavaScript, which is caught.
_PDF_ACTIVE_RE = re.compile(
    b"|".join(
        [
            _pdf_name_pattern("JavaScript", prefix=False),
            _pdf_name_pattern("JS", prefix=False),
            _pdf_name_pattern("Launch", prefix=False),
            _pdf_name_pattern("XFA", prefix=False),
            # prefix: also catches /EmbeddedFiles and /RichMediaContent etc.
            _pdf_name_pattern("EmbeddedFile", prefix=True),
            _pdf_name_pattern("RichMedia", prefix=True),
        ]
    )
)

# Start and end of a PDF stream body: "<< ... >> stream" + EOL ... "endstream".
_PDF_STREAM_START_RE = re.compile(rb">>[\x00\t\n\x0c\r ]*stream(?:\r\n|\n|\r)")
_PDF_STREAM_END_RE = re.compile(rb"endstream")

# Bytes kept from the end of one chunk and scanned again with the next, so a
# token split by the chunk boundary is still seen. It must be at least as long
# as the longest possible match ("/EmbeddedFile" fully #-escaped is 37 bytes).
_OVERLAP = 64


class DocumentError(Exception):
    """An upload was refused; ``str(error)`` is a translated user message.

    Callers turn it into ``ValidationError({"signed_form": [str(error)]})``.
    """

    @property
    def message(self) -> str:
        return str(self)


@dataclass(frozen=True)
class StoredDocument:
    """What is known about a stored scan; persist this next to the request."""

    #: Server-generated storage key (uuid4 hex); the only handle to the file.
    key: str
    #: Type detected from the content: one of PDF, JPEG, PNG.
    mimetype: str
    #: Size in bytes.
    size: int
    #: Hex SHA-256 of the content, for integrity checks and audit.
    sha256: str
    #: Cleaned browser-supplied name; a display label only, never a path.
    original_name: str


def clean_filename(name: str) -> str:
    """Validate a browser-supplied file name and return it NFC-normalised.

    Names are refused rather than "fixed": silently rewriting a suspicious
    name hides the attempt, and the name is only ever a label. Control and
    format characters are refused because bidi overrides (U+202E etc.) make
    "gpj.exe" display as "exe.jpg" to the sysadmin who reviews the file.
    """
    if not isinstance(name, str):
        raise DocumentError(tk._("The file name is not acceptable."))
    name = unicodedata.normalize("NFC", name)
    if (
        not name.strip()
        or name in (".", "..")
        or "/" in name
        or "\\" in name
        or len(name) > _MAX_NAME_LENGTH
        # Cc covers NUL and other control characters, Cs lone surrogates; Cf covers the
        # invisible formatting ones (bidi overrides/isolates, LRM/RLM...).
        or any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in name)
    ):
        raise DocumentError(tk._("The file name is not acceptable."))
    return name


def detect_type(head: bytes) -> str | None:
    """Return the MIME type of a scan from its first bytes, or ``None``.

    Only the content decides: the name and the browser's content type are
    both chosen by the client. Magic bytes are checked directly so there is
    no dependency on libmagic.
    """
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    return None


def _format_mb(size: int) -> str:
    """Size in MB for messages: "10", "2.5"; never "0" for a tiny limit."""
    return f"{max(size / _MIB, 0.01):.2f}".rstrip("0").rstrip(".")


def _types_error(allowed: Iterable[str]) -> DocumentError:
    labels = ", ".join(_LABELS[t] for t in DEFAULT_ALLOWED_TYPES if t in allowed)
    return DocumentError(
        tk._("Only these file types are accepted: %(types)s.") % {"types": labels}
    )


class _Scanner:
    """Checks streamed content for active content, across chunk boundaries.

    Markup is searched everywhere. PDF names are searched only outside stream
    bodies: those hold compressed image data in which a short name such as
    ``/JS`` turns up by chance (about once per 250 MB of random bytes, i.e.
    several % of multi-MB scans), while the dictionaries that trigger scripts
    are outside them (or in compressed object streams, which a byte scan
    cannot see anyway).
    """

    def __init__(self) -> None:
        self._pdf = False
        self._tail = b""  # end of the previous chunk, for the markup search
        self._pdf_buf = b""  # PDF bytes not yet decided, see _scan_pdf
        self._in_stream = False

    def start(self, mimetype: str) -> None:
        self._pdf = mimetype == PDF

    def feed(self, chunk: bytes) -> None:
        window = self._tail + chunk
        if _MARKUP_RE.search(window):
            raise self._error()
        self._tail = window[-_OVERLAP:]
        if self._pdf:
            self._scan_pdf(self._pdf_buf + chunk)

    def finish(self) -> None:
        if self._pdf:
            # End of file also ends a name that had no delimiter after it.
            self._scan_pdf(self._pdf_buf + b"\n")

    def _scan_pdf(self, buf: bytes) -> None:
        pos = 0
        while True:
            if self._in_stream:
                end = _PDF_STREAM_END_RE.search(buf, pos)
                if not end:
                    # Keep enough for an "endstream" cut by the chunk boundary.
                    keep = max(pos, len(buf) - len(b"endstream") + 1)
                    break
                self._in_stream = False
                pos = end.end()
            else:
                start = _PDF_STREAM_START_RE.search(buf, pos)
                # Search names only up to the stream (plus the one byte that
                # may end a name): each byte is searched once, so a file of
                # many tiny streams cannot make this quadratic.
                limit = start.start() + 1 if start else len(buf)
                if _PDF_ACTIVE_RE.search(buf, pos, limit):
                    raise self._error()
                if not start:
                    # Any match not yet complete starts in the last _OVERLAP bytes.
                    keep = max(pos, len(buf) - _OVERLAP)
                    break
                self._in_stream = True
                pos = start.end()
        self._pdf_buf = buf[keep:]

    @staticmethod
    def _error() -> DocumentError:
        return DocumentError(tk._("The file contains scripts or other active content."))


class LocalDocumentStore:
    """Stores scans on the local filesystem, outside any public folder.

    Layout: ``<root>/<key[:2]>/<key>``; files are 0o600 and directories
    created here 0o700, because the files hold personal data.
    """

    def __init__(self, root: str) -> None:
        os.makedirs(root, mode=0o700, exist_ok=True)
        self.root = os.path.realpath(root)

    # -- paths ---------------------------------------------------------------

    def path(self, key: str) -> str:
        """Absolute path for ``key``; ``ValueError`` if the key is not valid."""
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            raise ValueError(f"invalid document key: {key!r}")
        path = os.path.join(self.root, key[:2], key)
        # Keys are already plain hex, so this only matters if someone
        # replaced a shard directory with a symlink out of the store.
        real = os.path.realpath(path)
        if not real.startswith(self.root + os.sep):
            raise ValueError("document path escapes the storage folder")
        return path

    def exists(self, key: str) -> bool:
        return os.path.isfile(self.path(key))

    def open(self, key: str) -> BinaryIO:
        """Open a stored document for reading; ``FileNotFoundError`` if gone."""
        # O_NOFOLLOW: never follow a symlink planted at the final component.
        fd = os.open(self.path(key), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        return os.fdopen(fd, "rb")

    def delete(self, key: str) -> None:
        """Remove a document; a missing one is not an error."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path(key))

    # -- saving --------------------------------------------------------------

    def save(
        self,
        stream: BinaryIO,
        filename: str,
        *,
        max_size: int,
        allowed: Iterable[str] = DEFAULT_ALLOWED_TYPES,
        max_pixels: int | None = None,
    ) -> StoredDocument:
        """Validate and store an upload; raise ``DocumentError`` if refused.

        ``stream`` is anything with ``read(n)`` (e.g. Werkzeug's
        ``FileStorage.stream``). It is copied in 64 KiB chunks to a temporary
        file in the store, checked while copying, then parsed (PDF) or decoded
        (images) by ``pdfcheck`` on the completed temporary file, and renamed
        into place only when every check passed; on any failure nothing is left
        on disk. ``max_pixels`` defaults to ``upload_max_pixels``.
        """
        if max_size <= 0:
            raise ValueError("max_size must be positive")
        allowed = frozenset(allowed)
        if not allowed or not allowed <= set(DEFAULT_ALLOWED_TYPES):
            # A configuration mistake, not the applicant's: fail loudly.
            raise ValueError(f"allowed must be a non-empty subset of {DEFAULT_ALLOWED_TYPES}")

        name = clean_filename(filename)

        # The temp file lives in root so the final rename stays on one
        # filesystem (atomic). mkstemp creates it 0o600.
        fd, tmp_path = tempfile.mkstemp(prefix=".upload-", suffix=".part", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as out:
                mimetype, size, digest = self._copy(stream, out, name, max_size, allowed)
                out.flush()
                os.fsync(out.fileno())
            self._inspect(tmp_path, mimetype, max_pixels)
            key = uuid.uuid4().hex
            final = self.path(key)
            self._make_shard_dir(os.path.dirname(final))
            os.chmod(tmp_path, 0o600)
            os.replace(tmp_path, final)
        except BaseException:
            # Also on KeyboardInterrupt or a dropped client: no partial files.
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp_path)
            raise
        return StoredDocument(
            key=key, mimetype=mimetype, size=size, sha256=digest, original_name=name
        )

    @staticmethod
    def _inspect(path: str, mimetype: str, max_pixels: int | None) -> None:
        """The content policy on the complete file (see ``pdfcheck``); the bytes stay as sent."""
        if max_pixels is None:
            max_pixels = config.upload_max_pixels()
        try:
            pdfcheck.check_file(path, mimetype, max_pixels=max_pixels)
        except pdfcheck.ContentError as exc:
            raise DocumentError(str(exc)) from exc

    @staticmethod
    def _copy(
        stream: BinaryIO,
        out: BinaryIO,
        name: str,
        max_size: int,
        allowed: frozenset[str],
    ) -> tuple[str, int, str]:
        """Stream ``stream`` into ``out`` while checking it; see ``save``."""
        sha = hashlib.sha256()
        scanner = _Scanner()
        size = 0
        head = b""  # first bytes, until the type is known
        mimetype: str | None = None
        while True:
            # Never ask for more than one byte past the limit: an oversized
            # upload is refused without reading (or storing) the rest of it.
            chunk = stream.read(min(CHUNK_SIZE, max_size + 1 - size))
            if not chunk:
                break
            size += len(chunk)
            if size > max_size:
                raise DocumentError(
                    tk._("The file is larger than the limit of %(limit)s MB.")
                    % {"limit": _format_mb(max_size)}
                )
            if mimetype is None:
                # read() may return short chunks; wait for enough magic bytes.
                head += chunk
                if len(head) < 8:
                    continue
                mimetype = _check_type(head, name, allowed)
                scanner.start(mimetype)
                chunk, head = head, b""
            sha.update(chunk)
            scanner.feed(chunk)
            out.write(chunk)
        if size == 0:
            raise DocumentError(tk._("The file is empty."))
        if mimetype is None:
            # A file shorter than the longest signature (8 bytes).
            mimetype = _check_type(head, name, allowed)
            scanner.start(mimetype)
            sha.update(head)
            scanner.feed(head)
            out.write(head)
        scanner.finish()
        return mimetype, size, sha.hexdigest()

    def _make_shard_dir(self, path: str) -> None:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            return
        # mkdir's mode is filtered by the umask; make it exactly 0o700.
        os.chmod(path, 0o700)


def _check_type(head: bytes, name: str, allowed: frozenset[str]) -> str:
    """Detected type of ``head``, checked against ``allowed`` and ``name``."""
    mimetype = detect_type(head)
    if mimetype is None or mimetype not in allowed:
        raise _types_error(allowed)
    if not name.lower().endswith(_EXTENSIONS[mimetype]):
        # e.g. a JPEG called "form.pdf": refuse rather than guess, so what
        # the applicant sees matches what the reviewer gets.
        raise DocumentError(tk._("The file's content does not match its name."))
    return mimetype


def get_store() -> LocalDocumentStore:
    """The configured store (see ``config.storage_path``).

    ``ckanext.dgaaccounts.storage_path`` if set, else
    ``<ckan.storage_path>/dgaaccounts_private`` - a sibling of, not a folder
    in, ``<ckan.storage_path>/storage``, which CKAN serves publicly. Raises
    ``RuntimeError`` if neither is set or the folder would be public.
    """
    root = config.storage_path()
    base = tk.config.get("ckan.storage_path")
    if base:
        # CKAN's Flask app serves <ckan.storage_path>/storage as static files
        # (that is how /uploads/... works); a store in there is public by URL.
        public = os.path.realpath(os.path.join(base, "storage"))
        real = os.path.realpath(root)
        if real == public or real.startswith(public + os.sep):
            raise RuntimeError(
                "ckanext.dgaaccounts.storage_path must not be inside "
                f"{public}: CKAN serves that folder publicly."
            )
    return LocalDocumentStore(root)
