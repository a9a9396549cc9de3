"""Peak RSS of a process tree, as the user-path benchmark reads a worker's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from scripts.process_memory import descendants, peaks, reset_peaks

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads Linux's /proc")


def test_a_tree_is_its_root_and_the_processes_below_it() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert descendants(os.getpid())[0] == os.getpid()
        assert child.pid in descendants(os.getpid())
        found = {peak.pid: peak for peak in peaks(os.getpid())}
        assert found[child.pid].peak_mb > 0
        assert "time.sleep" in found[child.pid].command
    finally:
        child.kill()
        child.wait()


def test_a_peak_reset_starts_again_from_the_current_size() -> None:
    ballast = bytearray(64 * 1024 * 1024)  # a peak well above what this process keeps
    ballast[::4096] = b"x" * len(ballast[::4096])
    before = next(p.peak_mb for p in peaks(os.getpid()) if p.pid == os.getpid())
    del ballast
    if not reset_peaks(os.getpid()):
        pytest.skip("this kernel refuses to reset peak RSS (clear_refs)")
    after = next(p.peak_mb for p in peaks(os.getpid()) if p.pid == os.getpid())
    assert after < before
