"""4. Uploads: twenty concurrent 10 MB scans (throughput, memory of the server processes),
a 1 MB control, and the Python heap of single uploads (bench/heap.py)."""
from __future__ import annotations

import contextlib
import glob
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import psutil
import requests

from core import (
    HERE, MB, PASSWORD, Context, MailBox, api, log, med, ms, pct, settle, verify, yes,
)


def run(ctx: Context, res: dict[str, Any]) -> None:
    args = ctx.args
    log("4. uploads: 43 agency applicants, then 20 concurrent 10 MiB uploads, 20 of 1 MiB")
    applicants = agency_applicants(args.ext_url, ctx.mailbox, 43)
    storage_root = os.path.join(args.work, "storage")
    settle(ctx.conn)
    res["uploads"] = bench_uploads(args.ext_url, args.ext_pid, applicants[:20], 10 * MB,
                                   storage_root)
    settle(ctx.conn)
    res["uploads_small"] = bench_uploads(args.ext_url, args.ext_pid, applicants[20:40], MB,
                                         storage_root)
    res["heap"] = heap_per_upload(args.ext_ini, applicants[40:], [MB, MB, 10 * MB])
    res["threads"] = args.threads


def padded_pdf(size: int, seed: int) -> bytes:
    """A structurally plain PDF of exactly ``size`` bytes whose padding is a stream's data
    (pseudo-random, like a compressed scan), as tests/e2e/conftest.py makes them."""
    head = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    pages = (b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
             b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>\nendobj\n")
    tail = b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
    stream_head = b"4 0 obj\n<< /Length %010d >>\nstream\n"
    length = size - len(head) - len(pages) - len(tail) - len(stream_head % 0)
    body = random.Random(seed).randbytes(length)
    data = head + pages + (stream_head % length) + body + tail
    assert len(data) == size
    return data


def agency_applicants(ext: str, mailbox: MailBox, count: int) -> list[tuple[str, str]]:
    """``count`` agency registrations awaiting their signed form: (request id, applicant token),
    made the way an applicant makes them (register, the email's link, verify)."""
    session = requests.Session()
    made = []
    for n in range(count):
        tag = uuid.uuid4().hex[:8]
        addr = f"officer-{tag}@agency.go.th"
        result, _ = api(session, ext, "dgaaccounts_agency_register", data={
            "name": f"officer-{tag}", "fullname": f"เจ้าหน้าที่ ทดสอบ {n}", "email": addr,
            "password": PASSWORD, "organization": "bench-agency",
            "position": "นักวิชาการคอมพิวเตอร์", "phone": "02 612 6000",
            "superior_name": "นางสาวพิมพ์ชนก ศรีสุข", "superior_position": "ผู้อำนวยการกอง"})
        made.append((result["request_id"], addr))
    out = []
    for request_id, addr in made:
        verified, _ = verify(session, ext, mailbox.link(addr))
        assert verified["state"] == "awaiting_document", verified
        out.append((request_id, verified["applicant_token"]))
    return out


def workers_of(master_pid: int) -> list[psutil.Process]:
    return psutil.Process(master_pid).children()


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def bench_uploads(ext: str, ext_master: int, applicants: list[tuple[str, str]], size: int,
                  storage_root: str) -> dict[str, Any]:
    workers = workers_of(ext_master)
    pids = [w.pid for w in workers]
    baseline = {pid: _status_kb(pid, "VmRSS") for pid in pids}
    hwm_reset = True
    for pid in pids:  # reset the peak (VmHWM) to the current RSS
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            hwm_reset = False
    peak = dict(baseline)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in pids:
                with contextlib.suppress(OSError):
                    peak[pid] = max(peak[pid], _status_kb(pid, "VmRSS"))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    files = [padded_pdf(size, seed=1000 + n) for n in range(len(applicants))]
    barrier = threading.Barrier(len(applicants))
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def upload(n: int, request_id: str, token: str) -> None:
        session = requests.Session()
        barrier.wait()
        try:
            result, took = api(session, ext, "dgaaccounts_request_document_upload",
                               data={"id": request_id, "token": token},
                               files={"signed_form": (f"แบบฟอร์ม-{n}.pdf", files[n],
                                                      "application/pdf")}, timeout=300)
            with lock:
                latencies.append(took)
                if result["state"] != "submitted":
                    errors.append(f"{request_id}: state {result['state']}")
        except Exception as exc:  # noqa: BLE001 - reported
            with lock:
                errors.append(f"{request_id}: {exc}")

    threads = [threading.Thread(target=upload, args=(n, rid, tok))
               for n, (rid, tok) in enumerate(applicants)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    time.sleep(0.2)
    stop.set()
    sampler.join()
    hwm = {pid: _status_kb(pid, "VmHWM") for pid in pids}
    stored = [p for p in glob.glob(os.path.join(storage_root, "**", "*"), recursive=True)
              if os.path.isfile(p) and not os.path.basename(p).startswith(".")]
    stored_sizes = Counter(os.path.getsize(p) for p in stored)
    return {
        "count": len(applicants), "size": size, "wall": wall, "latencies": latencies,
        "errors": errors, "pids": pids, "baseline_kb": baseline, "peak_kb": peak,
        "hwm_kb": hwm, "hwm_reset": hwm_reset,
        "stored_files_of_size": stored_sizes.get(size, 0),
    }


def heap_per_upload(ini: str, applicants: list[tuple[str, str]],
                    sizes: list[int]) -> list[dict[str, Any]]:
    """bench/heap.py: the Python heap peak of single uploads, in-process (first one: warm-up)."""
    uploads = [[rid, tok, size] for (rid, tok), size in zip(applicants, sizes, strict=True)]
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "heap.py"), ini, json.dumps(uploads)],
        capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        log("heap.py failed:\n" + out.stderr[-3000:])
        return []
    return json.loads(out.stdout.strip().splitlines()[-1])



def report(res: dict[str, Any], add: Callable[[str], None]) -> tuple[str, str, str]:
    """This section of RESULTS.md; returns its row of the summary."""
    summary: list[tuple[str, str, str]] = []
    up, small, heap = res["uploads"], res["uploads_small"], res.get("heap") or []
    threads = res.get("threads", 4)
    total_mb = up["count"] * up["size"] / MB
    add("## 4. Uploads: twenty concurrent 10 MB scans")
    add("")
    add(f"{up['count']} agency applicants (registered and verified over the API) upload at the "
        f"same moment a {up['size'] / MB:.0f} MiB PDF each to "
        "`dgaaccounts_request_document_upload` (multipart, with the applicant token); then, as "
        f"a control, {small['count']} others a {small['size'] / MB:.0f} MiB PDF each. The "
        "resident memory (RSS) of the plugin server's worker processes is sampled every 5 ms "
        "(and the kernel's peak, `VmHWM`, "
        + ("reset before each round, is read after it)." if up["hwm_reset"]
           else "could NOT be reset, so only the samples count).")
        + f" Each worker has {threads} threads, so it receives up to {threads} scans at once.")
    add("")

    def growth(run: dict) -> dict[int, tuple[float, float]]:
        out = {}
        for pid in run["pids"]:
            base = run["baseline_kb"][pid] / 1024
            peak = max(run["peak_kb"][pid], run["hwm_kb"][pid] if run["hwm_reset"] else 0) / 1024
            out[pid] = (base, peak)
        return out

    add("| | 20 × 10 MiB | control: 20 × 1 MiB |")
    add("|---|---|---|")
    add(f"| uploaded | {total_mb:.0f} MiB in {up['wall']:.2f} s: "
        f"**{total_mb / up['wall']:.1f} MiB/s** | {small['count'] * small['size'] / MB:.0f} MiB "
        f"in {small['wall']:.2f} s: {small['count'] * small['size'] / MB / small['wall']:.1f}"
        " MiB/s |")
    if up["latencies"] and small["latencies"]:
        add(f"| time per upload (median, p95) | {ms(med(up['latencies']))}, "
            f"{ms(pct(up['latencies'], .95))} | {ms(med(small['latencies']))}, "
            f"{ms(pct(small['latencies'], .95))} |")
    add(f"| succeeded, stored | {len(up['latencies']) - len(up['errors'])} of {up['count']}, "
        f"{up['stored_files_of_size']} files | "
        f"{len(small['latencies']) - len(small['errors'])} of {small['count']}, "
        f"{small['stored_files_of_size']} files |")
    big, ctl = growth(up), growth(small)
    for n, pid in enumerate(up["pids"]):
        b0, b1 = big[pid]
        c0, c1 = ctl.get(pid, (0, 0))
        add(f"| worker {n + 1} (pid {pid}): RSS before → peak | {b0:.0f} → {b1:.0f} MiB "
            f"(**+{b1 - b0:.1f}**) | {c0:.0f} → {c1:.0f} MiB (+{c1 - c0:.1f}) |")
    heap_big = [h["peak"] / MB for h in heap if h["size"] == 10 * MB and h["ok"]]
    heap_small = [h["peak"] / MB for h in heap if h["size"] == MB and h["ok"]]
    if heap_big and heap_small:
        add(f"| Python heap peak of one upload (in-process, `bench/heap.py`) | "
            f"{max(heap_big):.2f} MiB | {max(heap_small):.2f} MiB |")
    add("")
    worst = max((p - b for b, p in big.values()), default=0.0)
    in_flight = threads * up["size"] / MB
    up_ok = (not up["errors"] and up["stored_files_of_size"] == up["count"]
             and worst < in_flight and bool(heap_big) and max(heap_big) < 1.0)
    add("If the scans sat in memory, a worker would grow by at least the scans it receives at "
        f"once ({threads} × {up['size'] / MB:.0f} MiB = {in_flight:.0f} MiB), and one upload's "
        "Python heap by the scan's size. Target: the largest growth of a worker below "
        f"{in_flight:.0f} MiB and one 10 MiB upload's Python heap peak below 1 MiB: "
        f"{yes(up_ok)} (largest growth {worst:.1f} MiB, "
        f"about {worst / threads:.1f} MiB per upload in flight; heap peak "
        + (f"{max(heap_big):.2f} MiB)." if heap_big else "not measured)."))
    add("")
    add("The scan goes from the socket to a temporary file (Werkzeug spools a multipart file "
        "to disk past 500 KB) and from there in 64 KiB chunks, checked and hashed on the way, "
        "to private storage (`storage.py`). What the RSS shows beyond the heap is memory the "
        "C allocator keeps for the worker's threads (per-thread arenas, I/O buffers), which it "
        "may or may not hand back after the round; the Python heap of an upload is the same "
        "for a 1 MiB and a 10 MiB scan.")
    for run in (up, small):
        if run["errors"]:
            add("")
            add("Errors: " + "; ".join(run["errors"][:5]))
    add("")
    summary.append(("4. uploads", "streamed, not held in memory",
                    f"{yes(up_ok)} ({total_mb / up['wall']:.1f} MiB/s; worker +{worst:.1f} "
                    f"MiB for {threads} scans in flight)"))
    return summary[0]
