"""How fast this machine is right now, printed beside every benchmark's figures.

These are shared virtual machines: the same code, on the same kind of machine, has
measured up to 2.5x apart on different days, with the load average inside the machine
below 1 both times. A fixed pure-Python workload timed next to the figures
says which kind of day they come from, so runs can be compared across days.
"""

from __future__ import annotations

import os
import timeit

WORKLOAD = "sum(range(1000))"


def python_speed_us() -> float:
    """Microseconds per run of WORKLOAD: the best of five, so a hiccup doesn't count."""
    runs = 20_000
    return min(timeit.repeat(WORKLOAD, number=runs, repeat=5)) / runs * 1e6


def describe() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"machine: {WORKLOAD} takes {python_speed_us():.1f} µs; load average {load}"
