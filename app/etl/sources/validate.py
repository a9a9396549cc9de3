"""`validated_options`: a kind's options checked, the first problem a SOURCE_INVALID at its path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.errors import SourceInvalid

if TYPE_CHECKING:
    from collections.abc import Mapping

_M = TypeVar("_M", bound=BaseModel)
_FRIENDLY = {"missing": "is required", "extra_forbidden": "is not a known option"}


def validated_options(model: type[_M], options: Mapping[str, Any], kind: str) -> _M:
    try:
        return model.model_validate(dict(options))
    except ValidationError as error:
        raise _invalid(error, model, kind) from None


def _invalid(error: ValidationError, model: type[BaseModel], kind: str) -> SourceInvalid:
    first = error.errors()[0]
    path = ["options", *(str(part) for part in first["loc"])]
    message = _FRIENDLY.get(first["type"], first["msg"].removeprefix("Value error, "))
    if first["type"] == "extra_forbidden" and len(path) == 2:
        message = f"unknown option; {kind} options are: {', '.join(model.model_fields)}"
    return SourceInvalid(f"{'.'.join(path)}: {message}", path=path)
