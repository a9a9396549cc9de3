"""`SourceKind`: one kind of source (models, policy check, reader); `SourceKinds`, the registry.

A kind's `check` is where the policy meets the uri (file roots and S3 confinement, the
private-address guard, the DSN's form); it returns the config fields it decided, such
as a file location or `allow_private_networks`. Everything else about a kind lives in
its own models and reader, so shared code never asks which kind it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from app.errors import SourceInvalid
from app.etl.sources.config import SourceConfig
from app.etl.sources.validate import validated_options

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from pydantic import BaseModel

    from app.etl.sources.policy import SourcePolicy
    from app.etl.sources.reader import ReadContext, SourceReader

ConfigT = TypeVar("ConfigT", bound=SourceConfig)


@dataclass(frozen=True)
class SourceKind(Generic[ConfigT]):
    name: str
    config: type[ConfigT]
    options: type[BaseModel]
    check: Callable[[str, SourcePolicy], Mapping[str, Any]]
    reader: Callable[[ConfigT, ReadContext], SourceReader]

    def __post_init__(self) -> None:
        # The models must agree with the entry, or a parsed config would not round-trip.
        fields, model = self.config.model_fields, self.config.__name__
        if fields["kind"].default != self.name:
            raise TypeError(f"{model} declares kind {fields['kind'].default!r}, not {self.name!r}")
        if fields["options"].annotation is not self.options:
            raise TypeError(f"{model}'s options are not {self.options.__name__}")

    def parse(self, uri: str, options: Mapping[str, Any], policy: SourcePolicy) -> ConfigT:
        """A config of this kind: the uri checked against `policy`, the options validated."""
        decided = self.check(uri, policy)
        parsed = validated_options(self.options, options, self.name)
        return self.config.model_validate({**decided, "uri": uri, "options": parsed})

    def open(self, config: SourceConfig, context: ReadContext) -> SourceReader:
        if not isinstance(config, self.config):
            raise TypeError(f"a {type(config).__name__} is not a {self.name} source")
        return self.reader(config, context)


class SourceKinds:
    """The kinds by name; an unknown name is SOURCE_INVALID listing the known ones."""

    def __init__(self, kinds: Iterable[SourceKind[Any]]) -> None:
        self._kinds: dict[str, SourceKind[Any]] = {}
        for kind in kinds:
            if kind.name in self._kinds:
                raise ValueError(f"source kind {kind.name!r} is registered twice")
            self._kinds[kind.name] = kind

    def names(self) -> tuple[str, ...]:
        return tuple(self._kinds)

    def get(self, name: str) -> SourceKind[Any]:
        kind = self._kinds.get(name)
        if kind is None:
            raise SourceInvalid(
                f"unknown source kind {name!r}; known kinds: {', '.join(self._kinds)}",
                path=["kind"],
            )
        return kind
