"""schema.graphql is the committed contract with clients: it must match the code."""

from __future__ import annotations

from scripts.export_schema import SCHEMA_FILE, current_sdl, main


def test_schema_file_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == current_sdl(), (
        "schema.graphql is stale: run `uv run python scripts/export_schema.py`"
    )
    assert main(["--check"]) == 0


def test_the_schema_keeps_the_names_clients_rely_on() -> None:
    sdl = current_sdl()
    for fragment in (
        "createSource(input: CreateSourceInput!): CreateSourcePayload!",
        "createPipeline(input: CreatePipelineInput!): CreatePipelinePayload!",
        "triggerRun(pipelineId: ID!, idempotencyKey: String = null, params: JSON = null)",
        "runEvents(runId: ID!, after: String = null): RunEvent!",
        "runs(first: Int = null, after: String = null, filter: RunFilter = null): RunConnection!",
        "enum RunStatus {\n  QUEUED\n  RUNNING\n  SUCCEEDED\n  FAILED\n  CANCELLING\n"
        "  CANCELLED\n}",
    ):
        assert fragment in sdl
