"""Scopes: validated, combined, resolved for users and API keys, forced into queries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
import pytest

from app.analytics import service
from app.analytics.errors import OutOfScope
from app.analytics.query import Condition, Operator, Query
from app.analytics.scope import (
    combine,
    parse_scope,
    scope_of,
    set_api_key_scope,
    set_user_scope,
)
from app.db import session_scope
from app.errors import InvalidInput
from app.models.user import Role
from app.services import api_keys as api_key_service
from app.services import auth as auth_service
from tests import factories
from tests.unit.analytics.helpers import load_orders, make_pipeline_id, orders

if TYPE_CHECKING:
    from pathlib import Path

    from app.config import Settings


def test_a_scope_is_normalised_and_checked() -> None:
    assert parse_scope(None) == ()
    assert parse_scope({"country": "DE", "channel": ["web", "store", "web"]}) == (
        ("channel", ("store", "web")),
        ("country", ("DE",)),
    )
    invalid: list[object] = [{"country": []}, {"country": {"$ne": 1}}, {"": "x"}, ["country"]]
    for bad in invalid:
        with pytest.raises(InvalidInput):
            parse_scope(bad)


def test_scopes_combine_by_intersection() -> None:
    user = parse_scope({"country": ["DE", "FR"]})
    key = parse_scope({"country": ["FR", "IT"], "channel": "web"})
    assert combine(user, key) == (("channel", ("web",)), ("country", ("FR",)))
    with pytest.raises(OutOfScope):
        combine(user, parse_scope({"country": "US"}))


async def test_a_scoped_caller_sees_only_their_rows(
    embedded_settings: Settings, tmp_path: Path
) -> None:
    pipeline_id = await make_pipeline_id(embedded_settings, tmp_path)
    frame = orders(3000)
    await load_orders(embedded_settings, pipeline_id, frame, "replace")
    user, token = await factories.make_user(embedded_settings, Role.VIEWER)
    async with session_scope(embedded_settings) as session:
        user = await set_user_scope(session=session, user=user, scope={"country": ["DE", "FR"]})
        issued = await api_key_service.create(session=session, owner=user, name="dash")
        await set_api_key_scope(session=session, key=issued.key, scope={"country": "FR"})

    async with session_scope(embedded_settings) as session:
        callers = [
            await auth_service.authenticate(
                session=session, settings=embedded_settings, token=credential
            )
            for credential in (token, issued.secret)
        ]
    as_user, as_key = (scope_of(caller) for caller in callers)
    assert as_user == (("country", ("DE", "FR")),)
    assert as_key == (("country", ("FR",)),)

    query = Query(dataset="orders", measures=("orders",), dimensions=("country",))
    seen = await service.run_query(settings=embedded_settings, query=query, scope=as_user)
    counts = frame.group_by("country").len()
    expected = counts.filter(pl.col("country").is_in(["DE", "FR"])).sort("country").rows()
    assert sorted(tuple(row) for row in seen.rows) == expected
    # Asking for other countries does not widen the scope; it finds nothing.
    other = Query(
        dataset="orders",
        measures=("orders",),
        filters=(Condition("country", Operator.EQUALS, ("US",)),),
    )
    assert (
        await service.run_query(settings=embedded_settings, query=other, scope=as_key)
    ).rows == [[0]]
    # The key's narrower scope is a different cache entry, with different numbers.
    fr = await service.run_query(settings=embedded_settings, query=query, scope=as_key)
    assert not fr.from_cache
    assert [row[0] for row in fr.rows] == ["FR"]


async def test_a_dataset_without_the_scoped_dimension_is_hidden_and_locked(
    embedded_settings: Settings, tmp_path: Path
) -> None:
    pipeline_id = await make_pipeline_id(embedded_settings, tmp_path)
    await load_orders(embedded_settings, pipeline_id, orders(10), "replace")
    scope = parse_scope({"tenant": "acme"})
    assert await service.list_datasets(settings=embedded_settings, scope=scope) == []
    with pytest.raises(OutOfScope) as caught:
        await service.run_query(
            settings=embedded_settings,
            query=Query(dataset="orders", measures=("orders",)),
            scope=scope,
        )
    assert caught.value.code == "FORBIDDEN"
