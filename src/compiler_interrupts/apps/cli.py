"""``python -m compiler_interrupts app ...``: applications built on Compiler Interrupts.

``add_parser(subparsers)`` adds the ``app`` subcommand with one sub-subcommand per
application; each application package provides ``run.add_parser(subparsers)``.
"""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``app`` (with its applications) to ``subparsers`` (an argparse subparsers action)."""
    p = subparsers.add_parser(
        "app",
        help="applications built on CIs (delegation, net, sched)",
        description="Applications that use Compiler Interrupts, each with its benchmark.",
    )
    sub = p.add_subparsers(dest="app", required=True, metavar="APP")
    from .delegation.run import add_parser as add_delegation
    from .net.run import add_parser as add_net
    from .sched.run import add_parser as add_sched

    add_delegation(sub)
    add_net(sub)
    add_sched(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m compiler_interrupts.apps.cli app delegation ...``)."""
    parser = argparse.ArgumentParser(prog="python -m compiler_interrupts")
    add_parser(parser.add_subparsers(dest="command", required=True))
    ns = parser.parse_args(argv)
    return ns.func(ns)


if __name__ == "__main__":
    raise SystemExit(main())
