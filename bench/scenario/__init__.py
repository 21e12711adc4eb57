"""The benchmark's measurements, one module each, run by bench/driver.py in this order.

A scenario module has ``run(ctx, res)``, which measures and stores its figures in ``res`` (saved
as var/bench/raw.json), and ``report(res, add)``, which writes its section of RESULTS.md with
``add`` (one line per call) and returns its row of the summary: (measurement, target, result).
Adding a benchmark is adding a module here and its name to ``ORDER``.
"""
from __future__ import annotations

ORDER = ("overhead", "signup", "queue_size", "uploads", "decisions", "simulation")
