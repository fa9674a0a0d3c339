"""``ci-opt``: ``instrument`` under an opt-like name, for lit tests (reads stdin by default)."""

from __future__ import annotations

import sys

from ..cli import main as cli_main


def main() -> None:
    args = sys.argv[1:]
    if not any(not a.startswith("-") for a in args):
        args = [*args, "-"]
    sys.exit(cli_main(["instrument", *args]))
