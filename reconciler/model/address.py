from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Address:
    """One object, printed one way everywhere: users["alice@example.org"]."""

    kind: str
    key: str

    def __str__(self) -> str:
        return f"{self.kind}[{json.dumps(self.key, ensure_ascii=False)}]"
