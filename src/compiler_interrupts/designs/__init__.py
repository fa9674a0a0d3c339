"""Placement designs, by name. Each design lives in its own module, imported on demand."""

from __future__ import annotations

import importlib

from ..diagnostics import CIError
from .base import Design

#: name -> (module, class)
REGISTRY: dict[str, tuple[str, str]] = {
    "none": (".none", "NoneDesign"),
    "naive": (".naive", "NaiveDesign"),
    "ci": (".ci", "CIDesign"),
    "signal": (".signal", "SignalDesign"),
}

DEFAULT_DESIGN = "naive"


def names() -> list[str]:
    return list(REGISTRY)


def get_design(name: str, **options) -> Design:
    """Instantiate the design called ``name``; unknown names raise a :class:`CIError` that lists
    the valid ones."""
    try:
        mod_name, cls_name = REGISTRY[name]
    except KeyError:
        raise CIError(
            f"unknown design '{name}' (valid: {', '.join(names())})"
        ) from None
    mod = importlib.import_module(mod_name, __name__)
    cls = getattr(mod, cls_name)
    return cls(**options) if options else cls()
