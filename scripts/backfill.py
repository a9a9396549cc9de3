"""Backfill a pipeline: one run per partition of [from, to) (`dataflow backfill`).

    uv run python scripts/backfill.py orders_clean --from 2026-01-01 --to 2026-02-01 --wait
    uv run python scripts/backfill.py --help

Talks to the API at --url or DATAFLOW_URL with --token or DATAFLOW_TOKEN (or a login).
"""

from __future__ import annotations

import sys

from app.cli import run_command


def main(argv: list[str] | None = None) -> None:
    run_command(["backfill"], sys.argv[1:] if argv is None else argv, "scripts/backfill.py")


if __name__ == "__main__":
    main()
