"""Bad-input and attack corpus for reads of warehouse rows: scoped callers against every
row-returning field, the warehouse's own tables, hostile table names, cursors, scopes
and limits. Every case is a typed error naming what is wrong (never INTERNAL_ERROR), or
rows within the caller's scope; none changes the warehouse. Add a case as one line."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest

from app import migrate
from app.analytics.service import close_services
from app.config import Environment, Settings
from app.db import session_scope
from app.etl.warehouse import open_warehouse
from app.models.user import Role
from app.services.users import get as get_user
from tests import factories
from tests.e2e import flows
from tests.live import GraphQLClient, live_server
from tests.unit.analytics.helpers import load, load_orders, make_pipeline_id, orders

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

PREVIEW = """query($table: String!, $limit: Int!) {
  tablePreview(table: $table, limit: $limit) { columns { name } rows rowCount }
}"""
DATASETS = "{ datasets { name rowCount } }"
REJECTS = """query($run: ID!, $first: Int, $after: String) {
  rejects(runId: $run, first: $first, after: $after) {
    nodes { source rowNumber reason raw } pageInfo { hasNextPage }
  }
}"""
COUNTRY = "DE"
# Callers by name: role and analytics scope.
CALLERS: dict[str, tuple[Role, dict[str, Any] | None]] = {
    "viewer": (Role.VIEWER, None),
    "operator": (Role.OPERATOR, None),
    "admin": (Role.ADMIN, None),
    "scoped_viewer": (Role.VIEWER, {"country": [COUNTRY]}),
    "scoped_operator": (Role.OPERATOR, {"country": [COUNTRY]}),
    "scoped_admin": (Role.ADMIN, {"country": [COUNTRY]}),
    "region_operator": (Role.OPERATOR, {"region": ["EU"]}),
    "quote_viewer": (Role.VIEWER, {"country": ["DE' OR '1'='1"]}),
    "ident_viewer": (Role.VIEWER, {'country" OR 1=1 --': ["DE"]}),
}
REJECTS_CSV = "order_id,country,quantity\n1,DE,2\n2,FR,-1\n3,DE,0\n4,IT,5\n5,DE,-3\n"


@dataclass
class World:
    url: str
    settings: Settings
    tokens: dict[str, str | None]
    run_id: str
    within: int
    total: int


def _settings(home: Path) -> Settings:
    settings = Settings(
        env=Environment.DEV,
        data_dir=home / "data",
        file_roots=[home],
        database_url=None,
        warehouse_url=None,
        redis_url=None,
        secret_key="corpus-reads-secret-key-0123456789",
    )
    migrate.upgrade(settings.metadata_url)
    return settings


async def _tokens(settings: Settings) -> dict[str, str | None]:
    tokens: dict[str, str | None] = {"anonymous": None}
    for name, (role, scope) in CALLERS.items():
        user, token = await factories.make_user(settings, role)
        async with session_scope(settings) as session:
            found = await get_user(session=session, user_id=user.id)
            found.analytics_scope = scope
            session.add(found)
        tokens[name] = token
    return tokens


async def _run_with_rejects(url: str, token: str | None, home: Path) -> str:
    client = GraphQLClient(url, token)
    path = home / "tenants.csv"
    path.write_text(REJECTS_CSV)
    spec = {
        "contract": {"checks": ["quantity > 0"], "bad_rows": "quarantine"},
        "destination": {"table": "tenants", "mode": "replace"},
    }
    run_id = await flows.trigger(client, await flows.define_pipeline(client, path, spec, "tn"))
    assert (await flows.wait_for_end(client, run_id))["status"] == "SUCCEEDED"
    return run_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("reads")
    settings = _settings(home)
    frame = orders(2_000, seed=3)

    async def prepare() -> dict[str, str | None]:
        await load_orders(settings, await make_pipeline_id(settings, home), frame, "replace")
        await load(settings, "plain", pl.DataFrame({"id": [1, 2], "note": ["a", "b"]}))
        return await _tokens(settings)

    tokens = asyncio.run(prepare())
    with live_server(settings) as url:
        run_id = asyncio.run(_run_with_rejects(url, tokens["operator"], home))
        within = frame.filter(pl.col("country") == COUNTRY).height
        yield World(url, settings, tokens, run_id, within, frame.height)
    asyncio.run(close_services())


def cursor(*key: Any) -> str:
    """A cursor as the API encodes them, around any key (a forged one)."""
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def error(code: str, *fragments: str) -> Callable[[World, dict[str, Any]], None]:
    def check(_: World, body: dict[str, Any]) -> None:
        assert body.get("errors"), body
        found = body["errors"][0]
        assert found["extensions"]["code"] == code, found
        for fragment in fragments:
            assert fragment in found["message"], found

    return check


def preview_within_scope(world: World, body: dict[str, Any]) -> None:
    shown = body["data"]["tablePreview"]
    column = [c["name"] for c in shown["columns"]].index("country")
    assert {row[column] for row in shown["rows"]} == {COUNTRY}
    assert shown["rowCount"] == world.within


def tenants_within_scope(_: World, body: dict[str, Any]) -> None:
    shown = body["data"]["tablePreview"]
    assert shown["rows"] == [[1, COUNTRY, 2]]
    assert shown["rowCount"] == 1


def preview_empty(_: World, body: dict[str, Any]) -> None:
    assert body["data"]["tablePreview"]["rows"] == []
    assert body["data"]["tablePreview"]["rowCount"] == 0


def preview_whole(world: World, body: dict[str, Any]) -> None:
    assert body["data"]["tablePreview"]["rowCount"] == world.total


def datasets_within_scope(world: World, body: dict[str, Any]) -> None:
    assert body["data"]["datasets"] == [{"name": "orders", "rowCount": world.within}]


def datasets_none(_: World, body: dict[str, Any]) -> None:
    assert body["data"]["datasets"] == []


def rejects_of(*order_ids: int) -> Callable[[World, dict[str, Any]], None]:
    def check(_: World, body: dict[str, Any]) -> None:
        assert "errors" not in body, body
        nodes = body["data"]["rejects"]["nodes"]
        assert [node["raw"]["order_id"] for node in nodes] == list(order_ids)
        assert all(node["source"] == "tenants.csv" and node["reason"] for node in nodes)

    return check


RUN = "<run>"  # replaced by the corpus run's id
P, D, R = PREVIEW, DATASETS, REJECTS
INVALID_NAME = error("INVALID_INPUT", "not a valid table name")


def table(name: str, limit: int = 5) -> dict[str, Any]:
    return {"table": name, "limit": limit}


# (case, caller, document, variables, check): one line each.
# fmt: off
CASES: list[tuple[str, str, str, dict[str, Any], Callable[[World, dict[str, Any]], None]]] = [
    ("scoped preview", "scoped_viewer", P, table("orders", 1000), preview_within_scope),
    ("scoped admin preview", "scoped_admin", P, table("orders"), preview_within_scope),
    ("unscoped preview", "viewer", P, table("orders"), preview_whole),
    ("scoped run's table", "scoped_viewer", P, table("tenants"), tenants_within_scope),
    ("scope without column", "scoped_viewer", P, table("plain"),
     error("FORBIDDEN", "`country`", "plain")),
    ("quote in scope value", "quote_viewer", P, table("orders"), preview_empty),
    ("quote in scope key", "ident_viewer", P, table("orders"), error("FORBIDDEN", "country")),
    ("rejects table", "admin", P, table("_dataflow_rejects"),
     error("FORBIDDEN", "_dataflow_rejects", "rejects(runId)")),
    ("loads table", "admin", P, table("_dataflow_loads"), error("FORBIDDEN", "_dataflow_loads")),
    ("batches table", "admin", P, table("_dataflow_batches"), error("FORBIDDEN", "_batches")),
    ("watermarks table", "admin", P, table("_dataflow_watermarks"), error("FORBIDDEN")),
    ("staging table", "admin", P, table("_stage_anything"), error("FORBIDDEN", "_stage_")),
    ("upper-case internal", "admin", P, table("_DATAFLOW_REJECTS"), INVALID_NAME),
    ("statement in name", "admin", P, table("orders; DROP TABLE orders"), INVALID_NAME),
    ("quote in name", "admin", P, table('orders"--'), INVALID_NAME),
    ("qualified name", "admin", P, table("main.orders"), INVALID_NAME),
    ("catalog name", "admin", P, table("information_schema"), error("TABLE_NOT_FOUND")),
    ("empty name", "admin", P, table(""), INVALID_NAME),
    ("huge name", "admin", P, table("a" * 100_000), INVALID_NAME),
    ("missing table", "admin", P, table("never_loaded"), error("TABLE_NOT_FOUND", "never_loaded")),
    ("huge limit", "admin", P, table("orders", 1_000_000), error("INVALID_INPUT", "limit")),
    ("limit past Int", "admin", P, table("orders", 2**40), error("BAD_USER_INPUT", "limit")),
    ("zero limit", "admin", P, table("orders", 0), error("INVALID_INPUT", "limit")),
    ("negative limit", "admin", P, table("orders", -1), error("INVALID_INPUT", "limit")),
    ("anonymous preview", "anonymous", P, table("orders"), error("UNAUTHENTICATED")),
    ("scoped datasets", "scoped_viewer", D, {}, datasets_within_scope),
    ("datasets outside scope", "region_operator", D, {}, datasets_none),
    ("all rejects", "operator", R, {"run": RUN}, rejects_of(2, 3, 5)),
    ("scoped rejects", "scoped_operator", R, {"run": RUN}, rejects_of(3, 5)),
    ("rejects without the scope field", "region_operator", R, {"run": RUN}, rejects_of()),
    ("rejects for a viewer", "viewer", R, {"run": RUN}, error("FORBIDDEN")),
    ("rejects for a scoped viewer", "scoped_viewer", R, {"run": RUN}, error("FORBIDDEN")),
    ("rejects anonymously", "anonymous", R, {"run": RUN}, error("UNAUTHENTICATED")),
    ("rejects of no run", "operator", R, {"run": "'; DROP TABLE runs; --"},
     error("RUN_NOT_FOUND")),
    ("huge page", "operator", R, {"run": RUN, "first": 1_000_000}, error("INVALID_INPUT", "first")),
    ("zero page", "operator", R, {"run": RUN, "first": 0}, error("INVALID_INPUT", "first")),
    ("garbage cursor", "operator", R, {"run": RUN, "after": "%%%"},
     error("INVALID_INPUT", "cursor")),
    ("cursor of another shape", "operator", R, {"run": RUN, "after": cursor("x", 1)},
     error("INVALID_INPUT", "cursor")),
    ("cursor past the end", "operator", R, {"run": RUN, "after": cursor(9, "", 0)}, rejects_of()),
    # Compared as a value: the quote sorts before "tenants.csv", so every reject follows.
    ("forged cursor with SQL", "operator", R, {"run": RUN, "after": cursor(0, "' OR 1=1", 3)},
     rejects_of(2, 3, 5)),
]
# fmt: on


@pytest.mark.parametrize(
    ("caller", "document", "variables", "check"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
async def test_a_read_is_within_scope_or_a_typed_error(
    world: World,
    caller: str,
    document: str,
    variables: dict[str, Any],
    check: Callable[[World, dict[str, Any]], None],
) -> None:
    sent = {k: world.run_id if v == RUN else v for k, v in variables.items()}
    body = await GraphQLClient(world.url, world.tokens[caller]).post(document, sent)
    for found in body.get("errors", []):
        assert found["extensions"]["code"] != "INTERNAL_ERROR", found
    check(world, body)
    # No read changes the warehouse.
    warehouse = open_warehouse(world.settings.warehouse_target)
    try:
        assert (await warehouse.read_table("orders")).height == world.total
    finally:
        await warehouse.close()
