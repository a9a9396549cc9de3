"""Per pipeline: runs, success rate, p50/p95 duration, rows loaded and rejected
(`dataflow report`).

    uv run python scripts/report.py --since 7d
    uv run python scripts/report.py --json > report.json

Talks to the API at --url or DATAFLOW_URL with --token or DATAFLOW_TOKEN (or a login).
"""

from __future__ import annotations

import sys

from app.cli import run_command


def main(argv: list[str] | None = None) -> None:
    run_command(["report"], sys.argv[1:] if argv is None else argv, "scripts/report.py")


if __name__ == "__main__":
    main()
