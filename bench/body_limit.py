"""Oversized uploads against a real CKAN server: what the server reads, holds and spools.

    CKAN_SQLALCHEMY_URL=... CKAN_REDIS_URL=... <venv>/bin/python bench/body_limit.py

Starts CKAN under gunicorn (``bench/wsgi.py``, one worker with 4 threads; install gunicorn
into the venv as ``bench/run.sh`` does) with ``upload_max_size`` = 2 MiB and its own empty
TMPDIR, then sends, each on a fresh connection, the way a browser or a script would (the whole
body, without waiting for an early answer):

* 12 MB with a ``Content-Length`` to the registration page and to the API action;
* 200 MB chunked (no length) to the same two;
* a 1 MB upload under the limit, for comparison.

For each: the answer's status, the bytes the client got into the socket before the server's
answer stopped it (an upper bound on what the server read: the rest sat in socket buffers; the
exact count read by the app is asserted by tests/security/test_body_limit.py), the growth of the
server's resident memory (master and worker, peak sampled every 20 ms, over the idle baseline)
and of its TMPDIR (peak).
Prints a Markdown table (README "Reliability and security").
"""
from __future__ import annotations

import argparse
import configparser
import contextlib
import os
import shutil
import socket
import subprocess
import sys

import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import psutil

from ports import free_ports  # bench/ports.py (this script's folder is on sys.path)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "ckanext-dgaaccounts"))
MIB = 1024 * 1024
LIMIT = 2 * MIB


def start_server(ini: str, work: str) -> tuple[subprocess.Popen, int, str]:
    from ckanext.dgaaccounts.tests import solr_stub

    _solr, solr_url = solr_stub.start_in_thread()
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(ini)
    parser.set("app:main", "ckanext.dgaaccounts.upload_max_size", str(LIMIT))
    parser.set("app:main", "ckan.storage_path", os.path.join(work, "storage"))
    target = os.path.join(work, "bench.ini")
    with open(target, "w", encoding="utf-8") as f:
        parser.write(f)
    spool = os.path.join(work, "tmp")
    os.makedirs(spool)
    [port] = free_ports(1)
    env = dict(os.environ, TMPDIR=spool, CKAN_SOLR_URL=solr_url, CKAN_INI=target)
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    log = open(os.path.join(work, "server.log"), "wb")  # noqa: SIM115
    proc = subprocess.Popen([gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", "1",
                             "--threads", "4", "bench.wsgi:application"], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/dgaaccounts/register", timeout=2)
            break
        except urllib.error.HTTPError:
            break  # it answers
        except OSError:
            time.sleep(0.2)
    else:
        raise SystemExit("the server did not start; see " + log.name)
    return proc, port, spool


def multipart(size: int) -> tuple[bytes, bytes, int, str]:
    boundary = uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="signed_form"; '
            f'filename="form.pdf"\r\nContent-Type: application/pdf\r\n\r\n').encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head, tail, size - len(head) - len(tail), f"multipart/form-data; boundary={boundary}"


def dir_size(path: str) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.path.getsize(os.path.join(folder, name))
    return total


def processes(master: psutil.Process) -> list[psutil.Process]:
    return [master, *master.children(recursive=True)]


def rss(master: psutil.Process) -> int:
    return sum(p.memory_info().rss for p in processes(master))


class Sampler(threading.Thread):
    def __init__(self, proc: psutil.Process, spool: str) -> None:
        super().__init__(daemon=True)
        self.proc, self.spool = proc, spool
        self.rss = self.disk = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.rss = max(self.rss, rss(self.proc))
            self.disk = max(self.disk, dir_size(self.spool))
            time.sleep(0.02)


def send(port: int, path: str, size: int, chunked: bool) -> tuple[str, int]:
    head, tail, filler, ctype = multipart(size)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {ctype}",
             "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}"]
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sent = 0
    block = b"%" * (64 * 1024)

    def frame(data: bytes) -> bytes:
        return b"%x\r\n%s\r\n" % (len(data), data) if chunked else data

    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        pieces = [head]
        left = filler
        try:
            for piece in pieces:
                sock.sendall(frame(piece))
                sent += len(piece)
            while left:
                data = block[:left]
                sock.sendall(frame(data))
                sent += len(data)
                left -= len(data)
            sock.sendall(frame(tail) + (b"0\r\n\r\n" if chunked else b""))
            sent += len(tail)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused and closed
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except (ConnectionResetError, TimeoutError):
            pass
    finally:
        sock.close()
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "(connection reset)"
    return status, sent


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--ini", default=os.path.join(REPO, "test.ini"))
    options = args.parse_args()
    work = tempfile.mkdtemp(prefix="dga-body-limit-")
    proc, port, spool = start_server(options.ini, work)
    try:
        server = psutil.Process(proc.pid)
        cases = [
            ("12 MB, Content-Length", "/dgaaccounts/register/agency", 12 * MIB, False),
            ("12 MB, Content-Length", "/api/3/action/dgaaccounts_agency_register", 12 * MIB,
             False),
            ("200 MB, chunked", "/dgaaccounts/register/agency", 200 * MIB, True),
            ("200 MB, chunked", "/api/3/action/dgaaccounts_agency_register", 200 * MIB, True),
            ("1 MB (under the limit), chunked", "/api/3/action/dgaaccounts_agency_register",
             1 * MIB, True),
        ]
        print(f"Limit: upload_max_size 2 MiB + request_body_allowance 256 KiB "
              f"= {(LIMIT + 256 * 1024) / MIB:.2f} MiB. Server: gunicorn, 1 worker x 4 threads,"
              f" CKAN {ckan_version()}.\n")
        print("| body | to | answer | sent before the answer | server RSS growth (peak) |"
              " temp dir growth (peak) |")
        print("|---|---|---|---|---|---|")
        for label, path, size, chunked in cases:
            time.sleep(0.5)
            base_rss = rss(server)
            sampler = Sampler(server, spool)
            sampler.rss = base_rss
            sampler.start()
            status, sent = send(port, path, size, chunked)
            time.sleep(0.3)
            sampler.done.set()
            sampler.join()
            print(f"| {label} | `{path}` | {status.replace('HTTP/1.1 ', '')} | {mb(sent)} |"
                  f" {mb(sampler.rss - base_rss)} | {mb(sampler.disk)} |")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def mb(n: int) -> str:
    return f"{n / MIB:.2f} MB"


def ckan_version() -> str:
    import ckan

    return ckan.__version__


if __name__ == "__main__":
    main()
