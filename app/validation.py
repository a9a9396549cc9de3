"""Turning pydantic validation failures into one typed `InvalidInput` naming the field."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        path = [str(part) for part in first["loc"]]
        field = ".".join(path) or "input"
        message = first["msg"].removeprefix("Value error, ")
        raise InvalidInput(f"{field}: {message}", path=path) from None
