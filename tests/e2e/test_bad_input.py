"""Bad input gets a typed error with a code, and the warehouse stays as it was."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import websockets

from app.etl.warehouse import open_warehouse
from app.models.user import Role
from tests import factories
from tests.e2e import flows
from tests.e2e import operations as ops
from tests.live import GraphQLClient, live_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from app.config import Settings


@pytest.fixture
def server(embedded_settings: Settings) -> Iterator[str]:
    with live_server(embedded_settings) as url:
        yield url


@pytest.fixture
async def operator(server: str, embedded_settings: Settings) -> GraphQLClient:
    _, token = await factories.make_user(embedded_settings, Role.OPERATOR)
    return GraphQLClient(server, token)


async def table_rows(settings: Settings, table: str) -> list[dict[str, Any]]:
    warehouse = open_warehouse(settings.warehouse_target)
    try:
        return (await warehouse.read_table(table)).sort("order_id").to_dicts()
    finally:
        await warehouse.close()


async def test_a_malformed_row_fails_the_run_and_leaves_the_table(
    operator: GraphQLClient, embedded_settings: Settings, tmp_path: Path
) -> None:
    good = factories.write_csv(tmp_path, factories.orders_rows(20))
    spec = factories.orders_spec("guarded", "append")
    good_pipeline = await flows.define_pipeline(operator, good, spec, "good")
    assert (await flows.wait_for_end(operator, await flows.trigger(operator, good_pipeline)))[
        "status"
    ] == "SUCCEEDED"
    before = await table_rows(embedded_settings, "guarded")

    rows = factories.orders_rows(30)
    rows[24] = "25,paid,3,1.5,unexpected,extra"  # line 26 of the file (header is line 1)
    bad = factories.write_csv(tmp_path, rows)
    bad_pipeline = await flows.define_pipeline(operator, bad, spec, "bad")
    run = await flows.wait_for_end(operator, await flows.trigger(operator, bad_pipeline))

    assert run["status"] == "FAILED"
    assert run["error"]["code"] == "SOURCE_MALFORMED"
    assert "line 26" in run["error"]["message"]
    assert await table_rows(embedded_settings, "guarded") == before


async def test_an_unknown_step_is_refused_with_its_place(
    operator: GraphQLClient, tmp_path: Path
) -> None:
    spec = {
        "steps": [{"filter": "quantity > 1"}, {"explode": "status"}],
        "destination": {"table": "t_unknown"},
    }
    errors = await flows.create_pipeline_errors(operator, tmp_path, spec)
    assert [error["code"] for error in errors] == ["UNKNOWN_STEP"]
    assert "explode" in errors[0]["message"]
    assert errors[0]["path"][:2] == ["steps", "1"]


async def test_a_filter_that_does_not_parse_is_refused(
    operator: GraphQLClient, tmp_path: Path
) -> None:
    spec = {"steps": [{"filter": "quantity >>> 1 AND ("}], "destination": {"table": "t_bad"}}
    errors = await flows.create_pipeline_errors(operator, tmp_path, spec)
    assert [error["code"] for error in errors] == ["EXPRESSION_INVALID"]
    assert errors[0]["path"][:2] == ["steps", "0"]


async def test_an_unknown_column_is_refused_before_any_run(
    operator: GraphQLClient, tmp_path: Path
) -> None:
    spec = {
        "steps": [{"derive": {"total": "quantity * price_typo"}}],
        "destination": {"table": "t_col"},
    }
    errors = await flows.create_pipeline_errors(operator, tmp_path, spec)
    assert errors[0]["code"] in {"EXPRESSION_INVALID", "SPEC_INVALID"}
    assert "price_typo" in errors[0]["message"]


async def test_an_unknown_pipeline_id_is_a_typed_error(operator: GraphQLClient) -> None:
    data = await operator.data(ops.TRIGGER_RUN, {"pipelineId": "no-such-pipeline"})
    assert data["triggerRun"]["run"] is None
    assert data["triggerRun"]["errors"][0]["code"] == "PIPELINE_NOT_FOUND"


async def test_a_file_outside_the_allowed_roots_is_refused(operator: GraphQLClient) -> None:
    data = await operator.data(
        ops.CREATE_SOURCE,
        {"input": {"name": "escape", "kind": "csv", "uri": "/etc/passwd"}},
    )
    assert data["createSource"]["source"] is None
    assert data["createSource"]["errors"][0]["code"] == "SOURCE_INVALID"


async def test_a_bad_source_name_names_the_field(operator: GraphQLClient, tmp_path: Path) -> None:
    csv_path = factories.write_csv(tmp_path, factories.orders_rows(1))
    data = await operator.data(
        ops.CREATE_SOURCE,
        {"input": {"name": "no spaces; please", "kind": "csv", "uri": str(csv_path)}},
    )
    assert data["createSource"]["errors"][0]["code"] == "INVALID_INPUT"
    assert data["createSource"]["errors"][0]["path"] == ["name"]


async def test_mutations_need_a_caller_with_the_operator_role(
    server: str, embedded_settings: Settings
) -> None:
    variables = {"pipelineId": "whatever"}
    anonymous = await GraphQLClient(server).post(ops.TRIGGER_RUN, variables)
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    _, viewer_token = await factories.make_user(embedded_settings, Role.VIEWER)
    viewer = await GraphQLClient(server, viewer_token).post(ops.TRIGGER_RUN, variables)
    assert viewer["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    forged = await GraphQLClient(server, viewer_token[:-4] + "AAAA").post(ops.RUNS)
    assert forged["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_bad_credentials_in_connection_init_close_the_socket(server: str) -> None:
    client = GraphQLClient(server, "not-a-token")
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await client.subscribe(ops.RUN_EVENTS, {"runId": "x"}, timeout=10)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403


async def test_a_wrong_password_is_a_typed_login_error(
    server: str, embedded_settings: Settings
) -> None:
    user, _ = await factories.make_user(embedded_settings, Role.VIEWER)
    data = await GraphQLClient(server).data(
        ops.LOGIN, {"email": user.email, "password": "not-the-password"}
    )
    assert data["login"]["token"] is None
    assert data["login"]["errors"][0]["code"] == "UNAUTHENTICATED"
