"""`python -m app.cli`: the same as the `dataflow` script."""

from __future__ import annotations

from app.cli import main

main()
