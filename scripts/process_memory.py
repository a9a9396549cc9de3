"""Peak resident memory of a process and its descendants, read from Linux's /proc.

A `dataflow worker` is a tree: the command, Dramatiq's supervisor and its worker
processes. Each one's VmHWM (its peak RSS) is kept by the kernel for as long as it
lives, and can be reset between measurements, so a benchmark reads one load's peak
without restarting the worker.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class Peak:
    pid: int
    command: str
    peak_mb: float


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, parents first."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop(0)
        found.append(current)
        pending.extend(_children(current))
    return found


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in (PROC / str(pid) / "task").glob("*"):
        try:
            children.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:  # the thread or process ended meanwhile
            continue
    return children


def _status_field(pid: int, name: str) -> str | None:
    try:
        lines = (PROC / str(pid) / "status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition(":")
        if key == name:
            return value.strip()
    return None


def peaks(pid: int) -> list[Peak]:
    """Each live process of the tree and its peak RSS so far (VmHWM)."""
    found = []
    for member in descendants(pid):
        high = _status_field(member, "VmHWM")
        if high is None:
            continue
        command = (PROC / str(member) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        found.append(Peak(member, command.strip(), int(high.split()[0]) / 1024))
    return found


def reset_peaks(pid: int) -> bool:
    """Start every process of the tree's peak RSS over from its current RSS (Linux 4.0+:
    writing 5 to clear_refs); False where the kernel refused, so peaks are cumulative."""
    done = True
    for member in descendants(pid):
        try:
            (PROC / str(member) / "clear_refs").write_text("5")
        except OSError:
            done = False
    return done
