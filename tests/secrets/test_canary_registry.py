"""The canary registry other tests rely on: unique values, stable per name, and a check that can fail."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.canaries import CANARIES


def test_same_name_same_value_different_names_differ(canary: Callable[[str], str]) -> None:
    first = canary("registry-a")
    assert canary("registry-a") == first and canary("registry-b") != first
    assert first.startswith("CANARY-registrya-") and len(first) > 30
    assert first in CANARIES.values()


def test_absent_canary_passes_in_text_bytes_and_files(tmp_path: Path, canary: Callable[[str], str],
                                                       assert_no_canary: Callable[[str | bytes | Path], None]) -> None:
    canary("registry-clean")
    (tmp_path / "out.log").write_bytes(b"nothing secret \xff")
    assert_no_canary("nothing secret")
    assert_no_canary(b"nothing secret")
    assert_no_canary(tmp_path / "out.log")


@pytest.mark.parametrize("form", ["text", "bytes", "file"])
def test_leaked_canary_is_named_not_shown(form: str, tmp_path: Path, canary: Callable[[str], str],
                                           assert_no_canary: Callable[[str | bytes | Path], None],
                                           secret_file: Callable[[Path], Path]) -> None:
    value = canary("registry-leak")
    where: str | bytes | Path = f"log: key={value}"
    if form == "bytes":
        where = f"log: key={value}".encode()
    elif form == "file":
        where = secret_file(tmp_path / "state.db")  # leaked on purpose: not for the end-of-session sweep
        where.write_bytes(b"\x00\x01" + value.encode() + b"\x02")
    with pytest.raises(AssertionError) as caught:
        assert_no_canary(where)
    assert "registry-leak" in str(caught.value) and value not in str(caught.value)
