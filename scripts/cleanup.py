"""Delete finished runs and their events older than an age (`dataflow cleanup`).

    uv run python scripts/cleanup.py --older-than 30d

Works on the metadata database named by DATABASE_URL (or the embedded one in DATA_DIR);
queued, running and cancelling runs stay, however old. Run it from cron.
"""

from __future__ import annotations

import sys

from app.cli import run_command


def main(argv: list[str] | None = None) -> None:
    run_command(["cleanup"], sys.argv[1:] if argv is None else argv, "scripts/cleanup.py")


if __name__ == "__main__":
    main()
