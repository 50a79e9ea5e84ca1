"""The severity scale shared by rules, alerts and the CLI: info < low < medium < high < critical."""

from __future__ import annotations

from enum import IntEnum


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: str) -> Severity:
        """`"High"`, `"high "` and `Severity.HIGH` all give HIGH; anything else is a ValueError naming the scale."""
        if isinstance(value, Severity):
            return value
        if isinstance(value, str):
            member = cls.__members__.get(value.strip().upper())
            if member is not None:
                return member
        allowed = ", ".join(str(member) for member in cls)
        raise ValueError(f"unknown severity {value!r}; expected one of: {allowed}")

    def __str__(self) -> str:
        return self.name.lower()
