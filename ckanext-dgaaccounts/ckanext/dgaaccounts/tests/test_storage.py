"""Tests for the private signed-form storage (ckanext.dgaaccounts.storage)."""
from __future__ import annotations

import hashlib
import io
import os
import stat
import tracemalloc

import pytest

from ckan.plugins import toolkit as tk

from ckanext.dgaaccounts import storage
from ckanext.dgaaccounts.storage import (
    CHUNK_SIZE,
    JPEG,
    PDF,
    PNG,
    DocumentError,
    LocalDocumentStore,
    StoredDocument,
    clean_filename,
    detect_type,
    get_store,
)
from ckanext.dgaaccounts.tests.conftest import JPEG as SAMPLE_JPEG
from ckanext.dgaaccounts.tests.conftest import PDF as SAMPLE_PDF
from ckanext.dgaaccounts.tests.conftest import PNG as SAMPLE_PNG

# Messages go through tk._. Outside a request flask-babel falls back to the
# untranslated text, so most tests run without one (CKAN's
# with_request_context builds a whole app per test, ~0.2 s each);
# test_messages_in_a_request_context covers the real setting.

MIB = 1024 * 1024

# Small valid files (see tests/conftest.py): uploads are parsed and decoded.
PDF_BYTES = SAMPLE_PDF
JPEG_BYTES = SAMPLE_JPEG
PNG_BYTES = SAMPLE_PNG


def pdf_parts(
    stream_length: int, *, catalog: bytes = b"", stream_dict: bytes = b"", stream_at: int = 0
) -> tuple[bytes, bytes]:
    """A valid one-page PDF whose page content is a stream of ``stream_length`` bytes.

    Returns the bytes before and after the stream data, so a test can put any data (or a
    generated 30 MiB of it) in between. ``catalog`` adds entries to the catalog,
    ``stream_dict`` to the stream's dictionary; ``stream_at`` pads with spaces so the
    stream's dictionary starts at that offset.
    """
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
    ]
    head = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(head))
        head += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    prefix = b"4 0 obj\n"
    head = head.ljust(max(stream_at - len(prefix), len(head)), b" ")
    offsets.append(len(head))
    head += prefix + b"<< /Length %d %s>>\nstream\n" % (stream_length, stream_dict)
    xref_at = len(head) + stream_length + len(b"\nendstream\nendobj\n")
    tail = b"\nendstream\nendobj\nxref\n0 5\n0000000000 65535 f \n" + b"".join(
        b"%010d 00000 n \n" % offset for offset in offsets)
    tail += b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref_at
    return head, tail


def pdf_with(stream: bytes = b"", **kw) -> bytes:
    head, tail = pdf_parts(len(stream), **kw)
    return head + stream + tail


@pytest.fixture
def root(tmp_path) -> str:
    return str(tmp_path / "private")


@pytest.fixture
def store(root) -> LocalDocumentStore:
    return LocalDocumentStore(root)


def files_under(root: str) -> list[str]:
    return [os.path.join(d, f) for d, _dirs, names in os.walk(root) for f in names]


def save(store: LocalDocumentStore, data: bytes, name: str, max_size: int = MIB, **kw):
    return store.save(io.BytesIO(data), name, max_size=max_size, **kw)


def assert_rejected(store: LocalDocumentStore, data: bytes, name: str, *, max_size=MIB, **kw):
    """The save fails with a user message and leaves nothing on disk."""
    with pytest.raises(DocumentError) as info:
        save(store, data, name, max_size, **kw)
    assert str(info.value)
    assert files_under(store.root) == []
    return str(info.value)


class GeneratedStream:
    """A large upload produced on the fly, never held in memory.

    Fails the test if anyone asks for more than 1 MiB in a single read().
    """

    def __init__(
        self, head: bytes, size: int, filler: bytes = b"0123456789abcdef", tail: bytes = b""
    ) -> None:
        self.remaining = size
        self._tail = tail
        self.sha = hashlib.sha256()
        self.served = 0
        self._pending = head
        self._filler = filler * (CHUNK_SIZE // len(filler))

    def read(self, n: int = -1) -> bytes:
        assert 0 < n <= MIB, f"read({n}) would pull too much into memory"
        if not self._pending:
            self._pending = self._tail if self.remaining <= len(self._tail) else self._filler
            if self._pending is not self._tail:
                # Stop the filler where the tail must start.
                self._pending = self._pending[: self.remaining - len(self._tail)]
        data = self._pending[: min(n, self.remaining)]
        self._pending = self._pending[len(data):]
        self.remaining -= len(data)
        self.served += len(data)
        self.sha.update(data)
        return data


class TrickleStream(io.BytesIO):
    """Returns at most ``step`` bytes per read(), like a slow socket."""

    def __init__(self, data: bytes, step: int) -> None:
        super().__init__(data)
        self.step = step

    def read(self, n: int | None = -1) -> bytes:
        return super().read(self.step if n is None or n < 0 else min(n, self.step))


# --- accepted files ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "name", "mimetype"),
    [
        (PDF_BYTES, "form.pdf", PDF),
        (PDF_BYTES, "FORM.PDF", PDF),
        (JPEG_BYTES, "scan.jpg", JPEG),
        (JPEG_BYTES, "scan.JPEG", JPEG),
        (PNG_BYTES, "scan.png", PNG),
    ],
)
def test_valid_files_are_stored(store, root, data, name, mimetype):
    doc = save(store, data, name)

    assert isinstance(doc, StoredDocument)
    assert doc.mimetype == mimetype
    assert doc.size == len(data)
    assert doc.sha256 == hashlib.sha256(data).hexdigest()
    assert doc.original_name == name
    assert len(doc.key) == 32
    assert int(doc.key, 16) >= 0

    path = store.path(doc.key)
    assert path == os.path.join(os.path.realpath(root), doc.key[:2], doc.key)
    assert store.exists(doc.key)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    with store.open(doc.key) as fh:
        assert fh.read() == data
    # Only the final file: no temporary file left behind.
    assert files_under(root) == [path]


def test_keys_are_unique_and_ignore_the_name(store):
    first = save(store, PDF_BYTES, "form.pdf")
    second = save(store, PDF_BYTES, "form.pdf")
    assert first.key != second.key
    assert "form" not in store.path(first.key)


def test_root_is_created_private(tmp_path):
    root = tmp_path / "a" / "b"
    LocalDocumentStore(str(root))
    assert root.is_dir()
    assert stat.S_IMODE(root.stat().st_mode) & 0o077 == 0


def test_delete(store):
    doc = save(store, PNG_BYTES, "scan.png")
    store.delete(doc.key)
    assert not store.exists(doc.key)
    store.delete(doc.key)  # missing is fine
    with pytest.raises(FileNotFoundError):
        store.open(doc.key)


def test_thai_filename_is_kept(store):
    name = "แบบฟอร์มคำขอ.pdf"
    assert clean_filename(name) == name
    assert save(store, PDF_BYTES, name).original_name == name


def test_filename_is_nfc_normalised():
    assert clean_filename("cafe\u0301.pdf") == "caf\u00e9.pdf"


def test_werkzeug_filestorage_stream(store):
    from werkzeug.datastructures import FileStorage

    upload = FileStorage(stream=io.BytesIO(JPEG_BYTES), filename="scan.jpg")
    doc = store.save(upload.stream, upload.filename, max_size=MIB, allowed=[JPEG])
    assert doc.mimetype == JPEG


def test_short_reads_are_handled(store):
    # The type needs 8 bytes; a stream handing out 3 at a time must still work.
    doc = store.save(TrickleStream(PNG_BYTES, 3), "scan.png", max_size=MIB)
    assert doc.sha256 == hashlib.sha256(PNG_BYTES).hexdigest()


def test_tiny_file_shorter_than_signature(store):
    # Recognised as a PDF from 5 bytes (no type error), then refused by the parser.
    msg = assert_rejected(store, b"%PDF-", "tiny.pdf")
    assert "damaged or cannot be read" in msg


# --- size -------------------------------------------------------------------


def test_empty_file(store):
    assert assert_rejected(store, b"", "form.pdf") == "The file is empty."


def test_exactly_at_limit_is_accepted(store):
    data = PDF_BYTES.ljust(1000, b" ")
    assert save(store, data, "form.pdf", max_size=1000).size == 1000


def test_one_byte_over_limit_is_rejected(store):
    data = PDF_BYTES.ljust(1001, b" ")
    msg = assert_rejected(store, data, "form.pdf", max_size=1000)
    assert "limit" in msg


def test_limit_is_shown_in_mb(store):
    data = PDF_BYTES.ljust(3 * MIB, b" ")
    msg = assert_rejected(store, data, "form.pdf", max_size=2 * MIB + MIB // 2)
    assert "2.5 MB" in msg


def test_oversized_upload_stops_reading_at_the_limit(store):
    stream = GeneratedStream(b"%PDF-1.7\n", 30 * MIB)
    with pytest.raises(DocumentError):
        store.save(stream, "big.pdf", max_size=MIB)
    assert stream.served == MIB + 1
    assert files_under(store.root) == []


def test_large_upload_is_streamed_not_buffered(store):
    size = 30 * MIB
    # A valid PDF whose content stream holds the generated bytes: it is parsed too.
    head, tail = pdf_parts(size - 1000)
    head, tail = pdf_parts(size - len(head) - len(tail))
    stream = GeneratedStream(head, size, tail=tail)
    tracemalloc.start()
    try:
        doc = store.save(stream, "scan.pdf", max_size=32 * MIB)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * MIB, f"peak memory {peak} bytes"
    assert doc.size == size == os.path.getsize(store.path(doc.key))
    assert doc.sha256 == stream.sha.hexdigest()


def test_failing_stream_leaves_nothing(store):
    class Broken:
        calls = 0

        def read(self, n):
            self.calls += 1
            if self.calls > 3:
                raise OSError("client went away")
            return (b"%PDF-1.4\n" + b" " * n)[:n]

    with pytest.raises(OSError, match="client went away"):
        store.save(Broken(), "form.pdf", max_size=MIB)
    assert files_under(store.root) == []


def test_invalid_max_size_or_allowed(store):
    with pytest.raises(ValueError, match="max_size"):
        save(store, PDF_BYTES, "form.pdf", max_size=0)
    with pytest.raises(ValueError, match="allowed"):
        save(store, PDF_BYTES, "form.pdf", allowed=[])
    with pytest.raises(ValueError, match="allowed"):
        save(store, PDF_BYTES, "form.pdf", allowed=["text/html"])


# --- type -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"%PDF-1.7", PDF),
        (b"\xff\xd8\xff\xdb", JPEG),
        (b"\x89PNG\r\n\x1a\n", PNG),
        (b" %PDF-1.7", None),  # magic must be at offset 0
        (b"\x89PNG\r\n", None),
        (b"GIF89a", None),
        (b"", None),
    ],
)
def test_detect_type(head, expected):
    assert detect_type(head) == expected


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "form.pdf"),
        (b"<html><body>hi</body></html>", "form.pdf"),
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "scan.png"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64, "form.pdf"),
        (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 64, "form.pdf"),
        (b"PK\x03\x04" + b"\x00" * 64, "form.pdf"),
        (b"GIF89a\x01\x00\x01\x00", "scan.png"),
    ],
)
def test_wrong_content_is_rejected(store, data, name):
    msg = assert_rejected(store, data, name)
    assert msg == "Only these file types are accepted: PDF, JPEG, PNG."


def test_allowed_types_can_be_narrowed(store):
    msg = assert_rejected(store, PNG_BYTES, "scan.png", allowed=[PDF])
    assert msg == "Only these file types are accepted: PDF."


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (JPEG_BYTES, "form.pdf"),
        (PDF_BYTES, "scan.jpg"),
        (PNG_BYTES, "scan.jpeg"),
        (PDF_BYTES, "form"),
        (PDF_BYTES, "form.pdf.html"),
        (PDF_BYTES, "form.exe"),
    ],
)
def test_content_must_match_the_name(store, data, name):
    msg = assert_rejected(store, data, name)
    assert msg == "The file's content does not match its name."


# --- active content ---------------------------------------------------------

ACTIVE = "The file contains scripts or other active content."


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"%PDF-1.4\n<html><script>alert(1)</script></html>", "form.pdf"),
        (b"%PDF-1.4\n%<SCRIPT>alert(1)</SCRIPT>", "form.pdf"),
        (b"%PDF-1.4\n<!doctype html>", "form.pdf"),
        (b"%PDF-1.4\n<iframe src=x>", "form.pdf"),
        (JPEG_BYTES + b"<svg onload=alert(1)>", "scan.jpg"),
        (PNG_BYTES + b"tEXt<a href='JavaScript:alert(1)'>", "scan.png"),
        (b"%PDF-1.4\n1 0 obj << /S /JavaScript /JS (app.alert(1)) >> endobj", "form.pdf"),
        (b"%PDF-1.4\n1 0 obj << /OpenAction << /S /JS >> >> endobj", "form.pdf"),
        (b"%PDF-1.4\n1 0 obj << /S /Launch /F (cmd.exe) >> endobj", "form.pdf"),
        (b"%PDF-1.4\n<< /Names << /EmbeddedFiles 3 0 R >> >>", "form.pdf"),
        (b"%PDF-1.4\n<< /Type /EmbeddedFile >>", "form.pdf"),
        (b"%PDF-1.4\n<< /Type /RichMediaAnnot >>", "form.pdf"),
        (b"%PDF-1.4\n<< /AcroForm << /XFA 5 0 R >> >>", "form.pdf"),
        # #xx escapes spell the same name: /J#61vaScript is /JavaScript.
        (b"%PDF-1.4\n<< /S /J#61vaScript /J#53 (x) >>", "form.pdf"),
        (b"%PDF-1.4\n<< /S /#4a#53 (x) >>", "form.pdf"),
        # A name at the very end of the file, with nothing after it.
        (b"%PDF-1.4\n<< /S /JS", "form.pdf"),
        # Outside a stream again after endstream.
        (b"%PDF-1.4\n<< /Length 3 >>\nstream\nabc\nendstream\n<< /JS (x) >>", "form.pdf"),
    ],
)
def test_active_content_is_rejected(store, data, name):
    assert assert_rejected(store, data, name) == ACTIVE


@pytest.mark.parametrize(
    "data",
    [
        # Harmless PDF features and names that merely start like a bad one.
        pdf_with(catalog=b"/OpenAction [3 0 R /Fit] /JSON 1 /Launcher 2 /XFAx 3"),
        # Stream bodies hold compressed image data, where "/JS " can occur by
        # chance; the dictionaries that trigger scripts live outside them.
        pdf_with(b"/JS /XFA ", stream_dict=b"/Filter /DCTDecode "),
        pdf_with(b"\xff/JS\x00"),
        # Markup-like bytes without a tag end (e.g. "<svgz") are not a tag.
        pdf_with(b"<svgz <htmlx <scripts"),
    ],
)
def test_harmless_lookalikes_are_accepted(store, data):
    assert save(store, data, "form.pdf").size == len(data)


def test_markup_inside_pdf_stream_is_still_rejected(store):
    data = b"%PDF-1.4\n<< /Length 20 >>\nstream\n<script>x</script>\nendstream\n"
    assert assert_rejected(store, data, "form.pdf") == ACTIVE


@pytest.mark.parametrize("token", [b"<script>", b"javascript:", b"<!DOCTYPE"])
@pytest.mark.parametrize("split", [1, 3, 7])
def test_markup_split_across_chunk_boundary(store, token, split):
    # The first read() asks for CHUNK_SIZE bytes; put the token across the end.
    split = min(split, len(token) - 1)
    data = JPEG_BYTES.ljust(CHUNK_SIZE - split, b"\x00") + token + b"\x00" * 100
    assert data.find(token) < CHUNK_SIZE < data.find(token) + len(token)
    assert assert_rejected(store, data, "scan.jpg") == ACTIVE


@pytest.mark.parametrize("token", [b"/JavaScript ", b"/JS ", b"/J#61vaScript ", b"/EmbeddedFiles"])
@pytest.mark.parametrize("split", [1, 2, 5, 12])
def test_pdf_name_split_across_chunk_boundary(store, token, split):
    split = min(split, len(token) - 1)
    data = b"%PDF-1.4\n".ljust(CHUNK_SIZE - split, b" ") + token + b"(x)" + b" " * 100
    assert assert_rejected(store, data, "form.pdf") == ACTIVE


def test_stream_start_split_across_chunk_boundary(store):
    # "/JS " inside a stream body whose "stream" keyword is cut by the
    # boundary must still count as stream data (accepted).
    data = pdf_with(b"/JS ", stream_at=CHUNK_SIZE - 10)
    assert data.index(b"4 0 obj\n<< /Length 4 >>\nstream\n") + 8 == CHUNK_SIZE - 10
    assert save(store, data, "form.pdf").size == len(data)


def test_token_split_across_short_reads(store):
    data = b"%PDF-1.4\n" + b" " * 5000 + b"<< /S /JavaScript (x) >>" + b" " * 100
    with pytest.raises(DocumentError):
        store.save(TrickleStream(data, 7), "form.pdf", max_size=MIB)
    assert files_under(store.root) == []


# --- names ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        ".",
        "..",
        "../form.pdf",
        "../../etc/passwd",
        "a/b.pdf",
        "/abs.pdf",
        "a\\b.pdf",
        "..\\form.pdf",
        "form\x00.pdf",
        "form\x07.pdf",
        "form\n.pdf",
        "\u202efdp.exe",  # RIGHT-TO-LEFT OVERRIDE: shows as "exe.pdf"
        "\u2066form\u2069.pdf",  # LEFT-TO-RIGHT ISOLATE / POP ISOLATE
        "form\u200e.pdf",  # LEFT-TO-RIGHT MARK
        "x" * 252 + ".pdf",  # 256 characters
        None,
    ],
)
def test_bad_names_are_rejected(store, name):
    with pytest.raises(DocumentError) as info:
        clean_filename(name)
    assert str(info.value) == "The file name is not acceptable."
    assert_rejected(store, PDF_BYTES, name)


def test_name_of_255_characters_is_accepted():
    name = "x" * 251 + ".pdf"
    assert clean_filename(name) == name


@pytest.mark.usefixtures("with_request_context")
@pytest.mark.parametrize(
    ("data", "name", "max_size", "message"),
    [
        (b"", "form.pdf", MIB, "The file is empty."),
        (PDF_BYTES, "form.pdf", 10, "The file is larger than the limit of 0.01 MB."),
        (b"<html>", "form.pdf", MIB, "Only these file types are accepted: PDF, JPEG, PNG."),
        (JPEG_BYTES, "form.pdf", MIB, "The file's content does not match its name."),
        (b"%PDF-1.4 /JS (x)", "form.pdf", MIB, ACTIVE),
        (PDF_BYTES, "../form.pdf", MIB, "The file name is not acceptable."),
    ],
)
def test_messages_in_a_request_context(store, data, name, max_size, message):
    assert assert_rejected(store, data, name, max_size=max_size) == message


# --- keys -------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "../x",
        "ABC",
        "abc",
        "",
        "0" * 31,
        "0" * 33,
        "A" * 32,  # upper case is not what uuid4().hex produces
        "0" * 31 + "/",
        "0" * 32 + "\n",
        "../" + "0" * 29,
        None,
    ],
)
def test_invalid_keys_raise_value_error(store, key):
    for method in (store.path, store.open, store.delete, store.exists):
        with pytest.raises(ValueError, match="invalid document key"):
            method(key)


def test_symlinked_shard_outside_root_is_refused(store, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    key = "ab" + "0" * 30
    os.symlink(outside, os.path.join(store.root, "ab"))
    with pytest.raises(ValueError, match="escapes"):
        store.path(key)


# --- configuration ----------------------------------------------------------


def test_get_store_uses_own_setting(monkeypatch, tmp_path):
    monkeypatch.setitem(tk.config, "ckanext.dgaaccounts.storage_path", str(tmp_path / "own"))
    monkeypatch.setitem(tk.config, "ckan.storage_path", str(tmp_path / "ckan"))
    assert get_store().root == os.path.realpath(tmp_path / "own")


def test_get_store_defaults_beside_public_storage(monkeypatch, tmp_path):
    monkeypatch.setitem(tk.config, "ckanext.dgaaccounts.storage_path", "")
    monkeypatch.setitem(tk.config, "ckan.storage_path", str(tmp_path))
    store = get_store()
    assert store.root == os.path.realpath(tmp_path / "dgaaccounts_private")
    assert not store.root.startswith(os.path.realpath(tmp_path / "storage"))


def test_get_store_without_any_path(monkeypatch):
    monkeypatch.setitem(tk.config, "ckanext.dgaaccounts.storage_path", "")
    monkeypatch.setitem(tk.config, "ckan.storage_path", "")
    with pytest.raises(RuntimeError, match="storage_path"):
        get_store()


def test_get_store_refuses_the_public_folder(monkeypatch, tmp_path):
    public = tmp_path / "storage" / "uploads"
    monkeypatch.setitem(tk.config, "ckan.storage_path", str(tmp_path))
    monkeypatch.setitem(tk.config, "ckanext.dgaaccounts.storage_path", str(public))
    with pytest.raises(RuntimeError, match="publicly"):
        get_store()
    assert not public.exists()


def test_overlap_covers_the_longest_token():
    # Fully #-escaped "/EmbeddedFile" is the longest possible match.
    longest = b"/" + b"".join(b"#%02X" % c for c in b"EmbeddedFile")
    assert storage._PDF_ACTIVE_RE.fullmatch(longest)
    assert len(longest) + 1 <= storage._OVERLAP
