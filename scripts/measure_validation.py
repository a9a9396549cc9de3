"""How long checking a spec against a schema takes as its number of steps grows.

Run: `uv run python scripts/measure_validation.py 100 200 400`. Prints one line per size:
the steps and the seconds `validate_against_schema` took on a two-column schema. The spec
is built without the API's size caps (SPEC_MAX_STEPS), to measure past them.

Measured on the 2-core development machine (filter steps `amount > i`), in-process (not
through the API), before and after in separate runs at different moments, without the
machine calibration beside them: the ratio is the point, the seconds are indicative only.

    steps   before (one growing plan)   after (a fresh frame per step)
    100     0.15 s                      0.03 s
    200     0.77 s                      0.05 s
    400     5.37 s                      0.11 s

Before, each step's check resolved the schema of the whole plan so far, so the total was
quadratic or worse (the issue saw 600 steps take 10 s and 800 take 22 s, on the event
loop); after, each step is checked on an empty frame with the previous step's schema.
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
