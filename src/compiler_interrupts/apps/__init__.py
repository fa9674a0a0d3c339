"""Applications built on Compiler Interrupts (``python -m compiler_interrupts app ...``).

Each application is a subpackage with its own C sources (built with ``ci-cc``) and a ``run.py``
whose ``add_parser(subparsers)`` adds one ``app`` sub-subcommand; ``apps.cli`` collects them.
"""
