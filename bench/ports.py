#!/usr/bin/env python3
"""Free loopback ports for the benchmark's servers, below the kernel's ephemeral range (as the
tests' ``free_port``): a port taken from that range and released is free for any client socket,
and a client that gets it while the server is still starting connects to itself (TCP
self-connect) and reads back what it sent.

    python bench/ports.py 5        # five distinct ports, on one line
"""
from __future__ import annotations

import random
import socket
import sys


def free_ports(count: int = 1) -> list[int]:
    with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
        low = int(f.read().split()[0])
    ports: list[int] = []
    for _ in range(1000 * count):
        if len(ports) == count:
            return ports
        port = random.randint(max(1024, low - 12000), low - 1)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        if port not in ports:
            ports.append(port)
    raise RuntimeError("no free port below the ephemeral range")


if __name__ == "__main__":
    print(*free_ports(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
