"""Errors and warnings about one resource, collected by the checks of every builder module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from otel_operator.api.validation import FieldError, describe


class Problems:
    """Errors and warnings about one resource, collected in the order found."""

    def __init__(self, resource: Mapping[str, Any]) -> None:
        self.who = describe(resource)
        self.errors: list[FieldError] = []
        self.warnings: list[str] = []

    def error(self, field: str, message: str) -> None:
        self.errors.append(FieldError(self.who, field, message))

    def warn(self, field: str, message: str) -> None:
        self.warnings.append(str(FieldError(self.who, field, message)))
