"""The ``fuzz`` and ``realworld`` subcommands of ``python -m compiler_interrupts``.

``cli.make_parser`` calls :func:`add_parsers` with its subparsers object; each subcommand sets
``func`` to a function taking the parsed namespace and returning an exit code.
"""

from __future__ import annotations

import argparse


def _cmd_fuzz(ns: argparse.Namespace) -> int:
    from .fuzz import cmd_fuzz

    return cmd_fuzz(ns)


def _cmd_realworld(ns: argparse.Namespace) -> int:
    from .realworld import cmd_realworld

    return cmd_realworld(ns)


def add_parsers(subparsers) -> None:
    from . import fuzz, realworld

    s = subparsers.add_parser(
        "fuzz", help="differential testing with Csmith programs (probe designs vs none)",
        description="Generate programs with csmith, build them with --ci-design=none and every "
                    "probe design/bound, run them with and without a handler, compare outputs.")
    fuzz.add_arguments(s)
    s.set_defaults(func=_cmd_fuzz)

    s = subparsers.add_parser(
        "realworld", help="build real projects with ci-cc and run their own tests",
        description="Fetch Debian source packages / PyPI sdists, build them plain and with "
                    "CC=ci-cc, run their tests, and print a table.")
    realworld.add_arguments(s)
    s.set_defaults(func=_cmd_realworld)
