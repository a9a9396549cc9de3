"""`parse_source`: the API's (kind, uri, options) checked into a `SourceConfig`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.etl.sources.kinds import SOURCE_KINDS
from app.etl.sources.netguard import check_uri_characters

if TYPE_CHECKING:
    from collections.abc import Mapping

    from app.etl.sources.config import SourceConfig
    from app.etl.sources.policy import SourcePolicy


def parse_source(
    kind: str, uri: str, options: Mapping[str, Any], policy: SourcePolicy
) -> SourceConfig:
    """Validate a source against the policy: files inside its roots, hosts it allows.

    Every problem is a SOURCE_INVALID (or a subclass) whose `path` points at the field.
    The config is the kind's own model: narrow it with isinstance where the type matters.
    """
    check_uri_characters(uri)
    config: SourceConfig = SOURCE_KINDS.get(kind).parse(uri, options, policy)
    return config
