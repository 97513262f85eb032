"""Body and query validation that collects every field error, like the Console's validation pipe.

Messages name the field and never echo its value, so secrets cannot leak through errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ._errors import SandboxError

_MISSING = object()


class Fields:
    """Reads typed fields from a JSON object, recording `(path, message)` for each violation."""

    def __init__(self, body: dict[str, Any], prefix: str = "") -> None:
        self.body = body
        self.prefix = prefix
        self.errors: list[tuple[str, str]] = []

    def _path(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, message: str) -> None:
        self.errors.append((self._path(name), message))

    def has(self, name: str) -> bool:
        return name in self.body

    def _get(self, name: str, required: bool) -> Any:
        value = self.body.get(name, _MISSING)
        if value is _MISSING or (value is None and required):
            if required:
                self.fail(name, "is required")
            return _MISSING
        return value

    def text(
        self,
        name: str,
        *,
        required: bool = False,
        max_len: int | None = None,
        pattern: str | None = None,
        pattern_msg: str = "has an invalid format",
        nullable: bool = True,
    ) -> Any:
        value = self._get(name, required)
        if value is _MISSING or (value is None and nullable):
            return None if value is _MISSING else value
        if not isinstance(value, str):
            self.fail(name, "must be a string")
        elif required and not value.strip():
            self.fail(name, "must not be empty")
        elif max_len is not None and len(value) > max_len:
            self.fail(name, f"must be at most {max_len} characters")
        elif pattern is not None and not re.fullmatch(pattern, value):
            self.fail(name, pattern_msg)
        else:
            return value
        return None

    def enum(self, name: str, choices: Iterable[str], *, required: bool = False, default: Any = None) -> Any:
        options = list(choices)
        value = self._get(name, required)
        if value is _MISSING or value is None:
            return default
        if value not in options:
            self.fail(name, f"must be one of {', '.join(options)}")
            return default
        return value

    def flag(self, name: str, *, required: bool = False, default: Any = None) -> Any:
        value = self._get(name, required)
        if value is _MISSING or value is None:
            return default
        if not isinstance(value, bool):
            self.fail(name, "must be a boolean")
            return default
        return value

    def integer(self, name: str, *, required: bool = False, minimum: int | None = None) -> Any:
        value = self._get(name, required)
        if value is _MISSING or value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, "must be an integer")
        elif minimum is not None and value < minimum:
            self.fail(name, f"must not be less than {minimum}")
        else:
            return value
        return None

    def array(self, name: str) -> Any:
        value = self._get(name, False)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, list):
            self.fail(name, "must be an array")
            return None
        return value

    def mapping(self, name: str) -> Any:
        value = self._get(name, False)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, dict):
            self.fail(name, "must be an object")
            return None
        return value

    def nested(self, name: str, value: dict[str, Any]) -> Fields:
        child = Fields(value, prefix=f"{self._path(name)}.")
        child.errors = self.errors
        return child

    def check(self) -> None:
        if self.errors:
            raise SandboxError("validation_error", "Validation failed", self.errors)


def list_query(query: dict[str, str]) -> tuple[int, int, str | None, str | None]:
    """`page`, `limit`, `search`, `sort` of a list endpoint, validated like the Console does."""
    errors: list[tuple[str, str]] = []
    page = _int_param(query, "page", 1, errors)
    limit = _int_param(query, "limit", 20, errors)
    if page is not None and page < 1:
        errors.append(("page", "must not be less than 1"))
    if limit is not None and limit < 1:
        errors.append(("limit", "must not be less than 1"))
    if limit is not None and limit > 100:
        errors.append(("limit", "must not be greater than 100"))
    if errors:
        raise SandboxError("validation_error", "Validation failed", errors)
    return page or 1, limit or 20, query.get("search") or None, query.get("sort") or None


def bool_param(query: dict[str, str], name: str) -> bool | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise SandboxError("validation_error", "Validation failed", [(name, "must be a boolean")])


def enum_param(query: dict[str, str], name: str, choices: Iterable[str]) -> str | None:
    raw = query.get(name)
    options = list(choices)
    if raw is None or raw == "":
        return None
    if raw not in options:
        raise SandboxError("validation_error", "Validation failed", [(name, f"must be one of {', '.join(options)}")])
    return raw


def _int_param(query: dict[str, str], name: str, default: int, errors: list[tuple[str, str]]) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        errors.append((name, "must be an integer"))
        return None
