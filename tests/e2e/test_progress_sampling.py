"""A worker records a run's progress sampled, not after every batch, and still ends on
the final counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.db import session_scope
from app.models.user import Role
from app.services import run_events as event_service
from tests import factories
from tests.e2e import flows
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings


async def test_a_run_of_many_batches_records_its_first_and_last_progress_only(
    embedded_settings: Settings, tmp_path: Path
) -> None:
    # Twenty batches, all well within one progress interval.
    settings = embedded_settings.model_copy(
        update={"etl_batch_rows": 1000, "run_progress_seconds": 3600}
    )
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(20_000))
    with live_server(settings) as url:
        client = GraphQLClient(url, (await factories.make_user(settings, Role.OPERATOR))[1])
        spec = factories.orders_spec("sampled", "append")
        pipeline = await flows.define_pipeline(client, csv_path, spec, "sampled")
        run_id = await flows.trigger(client, pipeline)
        run = await flows.wait_for_end(client, run_id, timeout=120)
    assert run["status"] == "SUCCEEDED"

    async with session_scope(settings) as session:
        stored = await event_service.list_after(session=session, run_id=run_id)
    progress = [event.payload for event in stored if event.kind == "progress"]
    assert [tick["batches"] for tick in progress] == [1, 20]
    assert progress[-1]["rows_read"] == 20_000
    assert progress[-1]["rows_written"] == run["rowsWritten"] == 15_000
