"""Helpers shared by the end-to-end tests (imported as ``from e2e_helpers import ...``)."""

from __future__ import annotations

import re


def parse_stats(text: str, prefix: str = "stat") -> list[dict[str, str]]:
    """Lines ``<prefix> key=value key=value ...`` -> list of dicts."""
    out = []
    for line in text.splitlines():
        words = line.split()
        if words[:1] == [prefix]:
            out.append(dict(w.split("=", 1) for w in words[1:]))
    return out


def no_traceback(stderr: str) -> bool:
    return "Traceback (most recent call last)" not in stderr and not re.search(
        r"^\w+(Error|Exception): ", stderr, re.M)
