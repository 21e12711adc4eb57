"""An SMTP sink on loopback for the benchmark: every message is written to a folder.

    python bench/mailsink.py --port 2525 --dir var/bench/mail

Each message becomes ``<dir>/<first recipient>__<n>.eml`` (written to a temporary name, then
renamed, so a reader never sees half a message). Nothing is relayed anywhere.
"""
from __future__ import annotations

import argparse
import itertools
import os
import signal
import threading

from aiosmtpd.controller import Controller


class FolderHandler:
    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.numbers = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd API
        with self.lock:
            number = next(self.numbers)
        rcpt = (envelope.rcpt_tos or ["unknown"])[0].lower().replace("/", "_")
        final = os.path.join(self.folder, f"{rcpt}__{number:07d}.eml")
        tmp = final + ".part"
        with open(tmp, "wb") as out:
            out.write(envelope.original_content or envelope.content)
        os.replace(tmp, final)
        return "250 Message accepted"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(FolderHandler(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
