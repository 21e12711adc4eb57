"""Python heap of one upload, in-process: does a scan stream to storage or sit in memory?

    python bench/heap.py var/bench/ext.ini '[["REQUEST_ID", "APPLICANT_TOKEN", SIZE], ...]'

Sends each upload through CKAN's whole WSGI stack in this process, the multipart body read
from a file on disk (so the client side holds nothing), with ``tracemalloc`` on during the
request only; prints, as JSON, the peak of the Python heap for each. The first upload is a
warm-up (first-request caches) and is not reported.
"""
from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import tracemalloc
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ckan.cli import load_config  # noqa: E402
from ckan.config.middleware import make_app  # noqa: E402


def multipart(fields: dict[str, str], size: int, seed: int) -> tuple[str, object, int]:
    from scenario.uploads import padded_pdf

    boundary = "bench" + uuid.uuid4().hex
    body = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, closed with it
    for name, value in fields.items():
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                   f"{value}\r\n".encode())
    body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="signed_form"; '
               f'filename="scan.pdf"\r\nContent-Type: application/pdf\r\n\r\n'.encode())
    body.write(padded_pdf(size, seed))
    body.write(f"\r\n--{boundary}--\r\n".encode())
    length = body.tell()
    body.seek(0)
    return boundary, body, length


def main() -> None:
    app = make_app(load_config(sys.argv[1]))
    uploads = json.loads(sys.argv[2])
    out = []
    for n, (request_id, token, size) in enumerate(uploads):
        boundary, body, length = multipart({"id": request_id, "token": token}, size, 500 + n)
        environ = {
            "REQUEST_METHOD": "POST", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
            "PATH_INFO": "/api/3/action/dgaaccounts_request_document_upload",
            "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
            "CONTENT_LENGTH": str(length), "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "wsgi.input": body, "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http", "wsgi.version": (1, 0), "wsgi.multithread": True,
            "wsgi.multiprocess": True, "wsgi.run_once": False,
        }
        status: list[str] = []

        def start_response(line: str, headers: list, exc_info: object = None,
                           seen: list[str] = status) -> None:
            seen.append(line)

        gc.collect()
        tracemalloc.start()
        response = b"".join(app(environ, start_response))
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        ok = status and status[0].startswith("200") and b'"success": true' in response
        body.close()
        if n:
            out.append({"size": size, "ok": bool(ok), "peak": peak})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
