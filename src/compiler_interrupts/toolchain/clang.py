"""Finding and running clang."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess

from ..diagnostics import CIError

MIN_VERSION = 14
INSTALL_HINT = "install it with: apt-get install -y clang (any version >= 14), or set CI_CLANG"


@functools.lru_cache(maxsize=None)
def clang_version(path: str) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"clang version (\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _candidates() -> list[str]:
    names: list[str] = []
    for d in os.environ.get("PATH", "").split(os.pathsep):
        try:
            entries = os.listdir(d or ".")
        except OSError:
            continue
        for e in entries:
            if re.fullmatch(r"clang-\d+", e):
                names.append(e)
    names = sorted(set(names), key=lambda s: -int(s.split("-")[1]))
    return names + ["clang"]


@functools.lru_cache(maxsize=None)
def find_clang(cxx: bool = False) -> str:
    """The clang (or clang++) to use: ``$CI_CLANG``/``$CI_CLANGXX``, else the newest
    ``clang-NN`` >= 14 on PATH, else ``clang``. Raises :class:`CIError` with the install
    command when none is found."""
    env = os.environ.get("CI_CLANGXX" if cxx else "CI_CLANG")
    if env:
        path = shutil.which(env)
        if path is None:
            raise CIError(f"CI_CLANG{'XX' if cxx else ''}={env} is not an executable")
        if cxx and not os.environ.get("CI_CLANGXX"):
            pass
        return path
    if cxx and os.environ.get("CI_CLANG"):
        base = find_clang(False)
        guess = re.sub(r"clang(-\d+)?$", lambda m: "clang++" + (m.group(1) or ""), base)
        return guess if shutil.which(guess) else base
    for name in _candidates():
        path = shutil.which(name)
        if path is None:
            continue
        # clang-NN names carry their version: no need to run them to ask.
        ver = (int(name[6:]), 0) if name.startswith("clang-") else clang_version(path)
        if ver is None or ver[0] < MIN_VERSION:
            continue
        if cxx:
            pp = shutil.which(name.replace("clang", "clang++"))
            return pp or path
        return path
    raise CIError(f"no clang >= {MIN_VERSION} found; {INSTALL_HINT}")


def run(cmd: list[str], verbose: bool = False, **kw) -> int:
    """Run a command with our stdio; return its exit code (127 if it cannot be started)."""
    if verbose:
        import sys

        print("ci-cc: " + " ".join(_quote(c) for c in cmd), file=sys.stderr)
    env = dict(os.environ)
    env["CI_CC_DEPTH"] = str(int(env.get("CI_CC_DEPTH", "0")) + 1)
    try:
        return subprocess.run(cmd, env=env, **kw).returncode
    except FileNotFoundError:
        raise CIError(f"cannot run {cmd[0]}; {INSTALL_HINT}") from None


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)
