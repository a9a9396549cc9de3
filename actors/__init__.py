"""Dramatiq actors. `dramatiq actors` starts a worker that serves all of them."""

from __future__ import annotations

from actors import broker
from actors.runs import execute_run

__all__ = ["broker", "execute_run"]
