"""How analytics reads the warehouse: its tables in place, or a Parquet replica exported
after each load. The warehouse says which (`app.etl.warehouse.analytics_access`), so
nothing here knows which warehouse it is: a new warehouse answers with one of the two.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, assert_never

from app.analytics.compiler import Relation
from app.analytics.engine import QueryEngine
from app.analytics.replica import discard_replica, export_and_measure, new_replica_uri
from app.analytics.stats import measure
from app.etl.warehouse import InPlace, ScannedReplica, analytics_access

if TYPE_CHECKING:
    from app.analytics.datasets import DatasetSpec
    from app.analytics.members import Member, Stats
    from app.config import Settings


@dataclass(frozen=True, slots=True)
class Measured:
    """What a load left for queries to read, measured."""

    members: list[Member]
    stats: Stats
    replica_uri: str | None
    """The replica written for this load (None when queries read the table itself)."""


class ReadPath(Protocol):
    def open_engine(self) -> QueryEngine:
        """The engine that answers this process's queries."""
        ...

    async def measure_load(self, table: str, spec: DatasetSpec) -> Measured:
        """After a load of `table`: make its rows what queries read, and measure them."""
        ...


class InPlaceReads:
    def __init__(self, access: InPlace) -> None:
        self.access = access

    def open_engine(self) -> QueryEngine:
        return QueryEngine.in_place(self.access)

    async def measure_load(self, table: str, spec: DatasetSpec) -> Measured:
        def measure_table() -> tuple[list[Member], Stats]:
            with self.access.cursor() as cursor:
                return measure(cursor, Relation(table=self.access.relation(table)), spec)

        members, stats = await asyncio.to_thread(measure_table)
        return Measured(members, stats, None)


class ReplicaReads:
    def __init__(self, source: ScannedReplica, settings: Settings) -> None:
        self.source = source
        self.settings = settings

    def open_engine(self) -> QueryEngine:
        return QueryEngine.replica(self.settings)

    async def measure_load(self, table: str, spec: DatasetSpec) -> Measured:
        """A new replica file per load: queries read the previous one until the dataset
        row points at this one."""
        uri = new_replica_uri(self.settings, table)
        try:
            members, stats = await asyncio.to_thread(
                export_and_measure, self.settings, self.source, table, spec, uri
            )
        except BaseException:
            await discard_replica(self.settings, uri)
            raise
        return Measured(members, stats, uri)


def read_path(settings: Settings) -> ReadPath:
    """How analytics reads the warehouse `settings` names."""
    access = analytics_access(settings.warehouse_target)
    match access:
        case InPlace():
            return InPlaceReads(access)
        case ScannedReplica():
            return ReplicaReads(access, settings)
        case _:
            assert_never(access)
