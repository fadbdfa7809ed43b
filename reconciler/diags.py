"""Diagnostics: problems found in input, reported to people as values, never raised.

Every layer imports this module, so it imports nothing from reconciler.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class SourceRange:
    """Where a value was written. Line and column are one-based, as editors count."""

    file: Path
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    code: str  # kebab-case, stable: tests and tools match on it
    message: str  # one sentence: what was expected, what was found
    subject: SourceRange | None = None
    path: str = ""  # field path in manifest words: users["alice@example.org"].role
    hint: str = ""

    def render(self) -> str:
        where = f"{self.subject}: " if self.subject else ""
        path = f"{self.path}: " if self.path else ""
        level = "" if self.severity is Severity.ERROR else "warning: "
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{level}{path}{self.message}{hint}"

    def as_json(self) -> dict[str, object]:
        return {
            "severity": self.severity.value,
            "code": self.code,
            "file": str(self.subject.file) if self.subject else None,
            "line": self.subject.line if self.subject else None,
            "column": self.subject.column if self.subject else None,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }


@dataclass(slots=True)
class Diagnostics:
    """An ordered collection of diagnostics; `+=` appends, `bool()` is true when any exist."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, code: str, message: str, *, subject: SourceRange | None = None,
              path: str = "", hint: str = "") -> None:
        self.items.append(Diagnostic(Severity.ERROR, code, message, subject, path, hint))

    def warning(self, code: str, message: str, *, subject: SourceRange | None = None,
                path: str = "", hint: str = "") -> None:
        self.items.append(Diagnostic(Severity.WARNING, code, message, subject, path, hint))

    def extend(self, other: Iterable[Diagnostic]) -> None:
        self.items.extend(other)

    def __iadd__(self, other: Iterable[Diagnostic]) -> Diagnostics:
        self.items.extend(other)
        return self

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def has_errors(self) -> bool:
        return any(d.severity is Severity.ERROR for d in self.items)

    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    def sorted(self) -> list[Diagnostic]:
        """Stable order for people: by file, line, column, then message."""
        def key(d: Diagnostic) -> tuple[str, int, int, str]:
            s = d.subject
            return (str(s.file) if s else "", s.line if s else 0, s.column if s else 0, d.message)
        return sorted(self.items, key=key)
