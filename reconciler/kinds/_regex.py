"""PCRE patterns as MISP stores them: delimited, `/…/flags` (MISP runs them through preg_match)."""

from __future__ import annotations

import re

DELIMITED = re.compile(r"^(?P<delim>[^\sA-Za-z0-9\\])(?P<body>.*)(?P=delim)(?P<flags>[imsxuADSUXJ]*)$", re.DOTALL)
PY_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}


def check_pcre(pattern: str) -> str:
    """The pattern unchanged when valid; ValueError saying what is wrong otherwise."""
    match = DELIMITED.match(pattern)
    if match is None:
        raise ValueError(f"expected a delimited regular expression like /pattern/i, got {pattern!r}")
    flags = 0
    for flag in match["flags"]:
        flags |= PY_FLAGS.get(flag, 0)
    try:
        re.compile(match["body"], flags)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern
