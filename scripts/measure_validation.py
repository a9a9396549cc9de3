"""How long checking a spec against a schema takes as its number of steps grows.

Run: `uv run python scripts/measure_validation.py 100 200 400`. Prints one line per size:
the steps and the seconds `validate_against_schema` took on a two-column schema.
"""

from __future__ import annotations

import sys
import time

import polars as pl

from app.etl.spec import parse_spec, validate_against_schema


def spec_with(steps: int) -> dict[str, object]:
    return {
        "steps": [{"filter": f"amount > {index}"} for index in range(steps)],
        "destination": {"table": "measured"},
    }


def seconds_to_validate(steps: int) -> float:
    parsed = parse_spec(spec_with(steps))
    schema = pl.Schema({"id": pl.Int64, "amount": pl.Int64})
    started = time.perf_counter()
    validate_against_schema(parsed, schema)
    return time.perf_counter() - started


def main(arguments: list[str]) -> None:
    for steps in [int(argument) for argument in arguments] or [100, 200, 400]:
        print(f"{steps} steps: {seconds_to_validate(steps):.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
