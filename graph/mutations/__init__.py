"""Write-side fields. Each returns a payload: the object, or typed `errors` (DESIGN §8)."""

from __future__ import annotations

from strawberry.tools import merge_types

from graph.mutations.auth import AuthMutations
from graph.mutations.backfills import BackfillMutations
from graph.mutations.catalog import CatalogMutations
from graph.mutations.runs import RunMutations

Mutation = merge_types(
    "Mutation", (AuthMutations, CatalogMutations, RunMutations, BackfillMutations)
)

__all__ = ["Mutation"]
