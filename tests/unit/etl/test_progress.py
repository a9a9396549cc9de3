"""Progress ticks sampled in front of a costly sink (the worker's recorder)."""

from __future__ import annotations

from app.etl.progress import SampledProgress
from app.event_types import Progress, Stage, StageFinished, StageStarted
from tests.unit.etl.engine_helpers import Events


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def tick(rows: int, stage: Stage = Stage.LOAD) -> Progress:
    return Progress(stage=stage, rows_read=rows, rows_rejected=0)


def rows_read(events: Events) -> list[int]:
    return [payload["rows_read"] for kind, _, payload in events.seen if kind == "progress"]


async def test_progress_passes_at_most_once_per_interval_and_the_latest_tick_wins() -> None:
    events, clock = Events(), Clock()
    sampled = SampledProgress(events, every=0.5, clock=clock)
    for rows in (10, 20, 30):  # the first passes at once; the next two fall in its interval
        await sampled(tick(rows))
    assert rows_read(events) == [10]
    clock.now += 0.5
    await sampled(tick(40))  # due: passes, and the 20 and 30 it replaces never will
    assert rows_read(events) == [10, 40]


async def test_every_other_event_passes_after_the_held_tick_so_the_last_counts_show() -> None:
    events, clock = Events(), Clock()
    sampled = SampledProgress(events, every=10, clock=clock)
    await sampled(StageStarted(stage=Stage.LOAD))
    await sampled(tick(10))
    await sampled(tick(20))
    await sampled(StageFinished(stage=Stage.EXTRACT, rows_read=20))
    assert [kind for kind, _, _ in events.seen] == [
        "stage_started",
        "progress",
        "progress",
        "stage_finished",
    ]
    assert rows_read(events) == [10, 20]


async def test_a_tick_of_another_stage_first_passes_the_held_one() -> None:
    events, clock = Events(), Clock()
    sampled = SampledProgress(events, every=10, clock=clock)
    await sampled(tick(10, Stage.TRANSFORM))
    await sampled(tick(20, Stage.TRANSFORM))
    await sampled(tick(5, Stage.LOAD))
    assert [(stage, payload["rows_read"]) for _, stage, payload in events.seen] == [
        ("transform", 10),
        ("transform", 20),
    ]
    await sampled.flush()
    assert rows_read(events) == [10, 20, 5]


async def test_an_interval_of_zero_passes_every_tick() -> None:
    events, clock = Events(), Clock()
    sampled = SampledProgress(events, every=0, clock=clock)
    for rows in (10, 20, 30):
        await sampled(tick(rows))
    assert rows_read(events) == [10, 20, 30]
