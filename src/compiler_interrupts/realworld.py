"""Real projects built with ``ci-cc`` by their own build systems, with their own tests.

``python -m compiler_interrupts realworld [--projects zlib,bzip2,lua,sqlite,msgpack,markupsafe]``
fetches each project's source (Debian source packages through ``apt-get source --download-only``,
PyPI sdists through ``pip download``; cached under ``~/.cache/compiler-interrupts/sources``),
builds it twice, unmodified -- once with plain clang, once with ``CC=ci-cc`` and
``CI_FLAGS="--ci-design=ci --ci-autostart=100000"`` (so every program and every extension has a
handler firing every ~100,000 cycles on every thread) -- runs the tests, and prints a table:
tests passed/total for both builds, the build time ratio and the handler calls counted by
``CI_STATS=1`` (summed over every process the tests ran).

Tests per project: zlib ``make -k check`` (static, shared, 64-bit); bzip2 ``make test`` (the six
``cmp`` checks); Lua 5.4 a set of scripts of ours (coroutines, error/pcall = longjmp, GC with
finalizers and weak tables, the string and utf8 libraries, table.sort calling back into Lua),
whose output must equal the plain build's; SQLite the shell running scripted workloads (output
compared with the plain build) and, when the Tcl development files are installed, eight files of
SQLite's own Tcl test suite run by ``testfixture`` (select1, func, expr, join, where, window1,
trigger1, savepoint: about 16,600 tests); PyPI C extensions (msgpack, markupsafe) built with
``pip install --no-binary NAME`` into fresh virtual environments, then the sdist's own pytest
suite (msgpack) or a smoke test (markupsafe).

Debian sources need ``deb-src`` lines in the apt sources: when none are configured and we run as
root, a ``deb-src`` twin of each ``deb`` source is written to
``/etc/apt/sources.list.d/compiler-interrupts-src.sources`` and ``apt-get update`` is run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

CI_FLAGS = "--ci-design=ci --ci-autostart=100000"
SCRUB_ENV = ("CI_DESIGN", "CI_FLAGS", "CI_VERBOSE", "CI_STATS", "CI_AUTOSTART_CYCLES",
             "CI_AUTOSTART_IR", "CI_INTERVAL_LOG", "CI_CC_DEPTH", "CC", "CXX", "CFLAGS",
             "CXXFLAGS", "LDFLAGS", "CPPFLAGS", "LDSHARED", "MAKEFLAGS", "MFLAGS")
DEFAULT_PROJECTS = ("zlib", "bzip2", "lua", "sqlite", "msgpack", "markupsafe")
SRC_LIST = Path("/etc/apt/sources.list.d/compiler-interrupts-src.sources")


class FetchError(Exception):
    """The source could not be fetched (no network, no deb-src, package unknown)."""


# ------------------------------------------------------------------------------------------
# Sources


def source_cache() -> Path:
    from .runtime.build import cache_dir

    d = Path(cache_dir()) / "sources"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _run(cmd, *, cwd=None, env=None, timeout=1800, input=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, timeout=timeout, text=True,
                          capture_output=True, input=input, errors="replace")


def _deb_src_configured() -> bool:
    paths = [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*"))
    for p in paths:
        try:
            text = p.read_text()
        except OSError:
            continue
        if p.suffix == ".sources" and re.search(r"^Types:.*\bdeb-src\b", text, re.M):
            return True
        if p.suffix != ".sources" and re.search(r"^\s*deb-src\s", text, re.M):
            return True
    return False


def enable_deb_src() -> None:
    """Add deb-src twins of the configured deb sources (root only), then apt-get update."""
    if _deb_src_configured():
        return
    if os.geteuid() != 0:
        raise FetchError("apt has no deb-src sources and we are not root to add them")
    stanzas: list[str] = []
    for p in [Path("/etc/apt/sources.list")] + sorted(Path("/etc/apt/sources.list.d").glob("*")):
        try:
            text = p.read_text()
        except OSError:
            continue
        if p.suffix == ".sources":
            for st in re.split(r"\n\s*\n", text):
                if re.search(r"^Types:.*\bdeb\b", st, re.M) and "debian" in st:
                    stanzas.append(re.sub(r"^Types:.*$", "Types: deb-src", st.strip(), flags=re.M))
        elif p.suffix == ".list":
            for line in text.splitlines():
                m = re.match(r"\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.*)", line)
                if m and "debian" in m.group(2):
                    opts = m.group(1) or ""
                    stanzas.append(f"Types: deb-src\nURIs: {m.group(2)}\nSuites: {m.group(3)}\n"
                                   f"Components: {m.group(4)}" +
                                   ("\nTrusted: yes" if "trusted=yes" in opts else ""))
    if not stanzas:
        raise FetchError("no Debian deb sources to derive deb-src lines from")
    SRC_LIST.write_text("\n\n".join(stanzas) + "\n")
    r = _run(["apt-get", "update", "-qq"], timeout=600)
    if r.returncode != 0:
        raise FetchError(f"apt-get update failed: {r.stderr[-300:]}")


def fetch_debian(package: str) -> Path:
    """The upstream (``.orig``) tarball of a Debian source package, cached."""
    cache = source_cache()
    hits = [p for p in cache.glob(f"{package}_*.orig.tar.*") if "orig-" not in p.name]
    if hits:
        return sorted(hits)[-1]
    if shutil.which("apt-get") is None:
        raise FetchError("apt-get not available")
    enable_deb_src()
    with tempfile.TemporaryDirectory(prefix="ci-src-") as td:
        os.chmod(td, 0o755)
        r = _run(["apt-get", "source", "--download-only", "-qq", package], cwd=td, timeout=900)
        tars = [p for p in Path(td).glob(f"{package}_*.orig.tar.*") if "orig-" not in p.name]
        if r.returncode != 0 or not tars:
            raise FetchError(f"apt-get source {package} failed: {(r.stderr or r.stdout)[-400:]}")
        dest = cache / tars[0].name
        shutil.copy(tars[0], dest.with_suffix(".part"))
        os.replace(dest.with_suffix(".part"), dest)
        return dest


def fetch_sdist(name: str) -> Path:
    cache = source_cache()
    norm = re.sub(r"[-_.]+", "[-_.]", name)
    hits = [p for p in cache.iterdir() if re.match(rf"(?i){norm}-\d.*\.(tar\.gz|zip)$", p.name)]
    if hits:
        return sorted(hits)[-1]
    with tempfile.TemporaryDirectory(prefix="ci-sdist-") as td:
        # Only NAME as an sdist; its build dependencies (setuptools, Cython) as wheels.
        r = _run([sys.executable, "-m", "pip", "download", "--no-binary", name, "--no-deps",
                  "-q", "-d", td, name], timeout=600)
        files = list(Path(td).iterdir())
        if r.returncode != 0 or not files:
            raise FetchError(f"pip download {name} failed: {r.stderr[-400:]}")
        dest = cache / files[0].name
        shutil.copy(files[0], dest)
        return dest


def extract(archive: Path, dest: Path) -> Path:
    """Unpack and return the single top-level directory."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tf:
        try:
            tf.extractall(dest, filter="tar")
        except TypeError:  # Python < 3.12 without the filter argument
            tf.extractall(dest)
    tops = [p for p in dest.iterdir() if p.is_dir()]
    if len(tops) != 1:
        raise FetchError(f"{archive.name}: expected one top-level directory")
    return tops[0]


# ------------------------------------------------------------------------------------------
# Results


@dataclass
class Side:
    passed: int = 0
    total: int = 0
    build_seconds: float = 0.0
    handler_calls: int = 0
    built: bool = False
    log: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class Row:
    project: str
    plain: Side = field(default_factory=Side)
    ci: Side = field(default_factory=Side)
    note: str = ""
    skipped: str = ""

    @property
    def ratio(self) -> float:
        return self.ci.build_seconds / self.plain.build_seconds if self.plain.build_seconds else 0

    @property
    def ok(self) -> bool:
        return (not self.skipped and self.ci.built and self.plain.built
                and self.ci.passed == self.ci.total == self.plain.total
                and self.plain.passed == self.plain.total and self.ci.total > 0)


_STATS_RE = re.compile(r"ci: thread \d+ handler_calls=(\d+)")


def count_handler_calls(text: str) -> int:
    return sum(int(m) for m in _STATS_RE.findall(text))


def render_table(rows: list[Row]) -> str:
    head = ("| project | tests plain | tests ci | build s plain | build s ci | ratio | "
            "handler calls | note |")
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.skipped:
            why = " ".join(r.skipped.split())[:200].replace("|", "/")
            lines.append(f"| {r.project} | - | - | - | - | - | - | skipped: {why} |")
            continue
        lines.append(
            f"| {r.project} | {r.plain.passed}/{r.plain.total} | {r.ci.passed}/{r.ci.total} | "
            f"{r.plain.build_seconds:.1f} | {r.ci.build_seconds:.1f} | {r.ratio:.2f} | "
            f"{r.ci.handler_calls:,} | {r.note} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# Environments


def driver_dir(work: Path) -> Path:
    """A directory with ``ci-cc``/``ci-c++`` (the installed ones, else wrappers)."""
    cc, cxx = shutil.which("ci-cc"), shutil.which("ci-c++")
    if cc and cxx and Path(cc).parent == Path(cxx).parent:
        return Path(cc).parent
    d = work / "bin"
    d.mkdir(parents=True, exist_ok=True)
    for name, sub in (("ci-cc", "cc"), ("ci-c++", "c++")):
        p = d / name
        p.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m compiler_interrupts {sub} "$@"\n')
        p.chmod(0o755)
    return d


@dataclass
class Env:
    """Build/test environment of one side (plain or ci)."""

    name: str
    cc: str
    cxx: str
    base: dict[str, str]
    jobs: int = 2

    def build_env(self) -> dict[str, str]:
        e = dict(self.base)
        e["CC"], e["CXX"] = self.cc, self.cxx
        if self.name == "ci":
            e["CI_FLAGS"] = CI_FLAGS
        return e

    def test_env(self) -> dict[str, str]:
        e = self.build_env()
        if self.name == "ci":
            e["CI_STATS"] = "1"
        return e


def make_envs(work: Path, jobs: int) -> tuple[Env, Env]:
    from .toolchain.clang import find_clang

    base = {k: v for k, v in os.environ.items() if k not in SCRUB_ENV}
    base["LC_ALL"] = "C"
    drivers = driver_dir(work)
    base["PATH"] = str(drivers) + os.pathsep + base.get("PATH", "")
    plain = Env("plain", find_clang(False), find_clang(True), base, jobs)
    ci = Env("ci", str(drivers / "ci-cc"), str(drivers / "ci-c++"), base, jobs)
    return plain, ci


# ------------------------------------------------------------------------------------------
# Projects


class Project:
    name = ""
    #: archive -> fetch function
    def fetch(self) -> Path:
        raise NotImplementedError

    def build(self, src: Path, env: Env, side: Side) -> bool:
        raise NotImplementedError

    def test(self, src: Path, env: Env, side: Side) -> None:
        raise NotImplementedError

    def compare(self, row: Row) -> None:
        """Count ci tests whose output differs from the plain build's as failed."""
        failed = set(row.ci.outputs.get("__failed__", "").split())
        for k, out in row.ci.outputs.items():
            if k == "__failed__" or k in failed or k not in row.plain.outputs:
                continue
            if out != row.plain.outputs[k]:
                row.ci.passed -= 1
                row.note += f" {k}: output differs from plain;"


def _timed(side: Side, steps: list[tuple[list, dict]], cwd: Path, timeout=3600) -> bool:
    t0 = time.monotonic()
    for cmd, env in steps:
        r = _run(cmd, cwd=cwd, env=env, timeout=timeout)
        side.log += f"$ {' '.join(map(str, cmd))}\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
        if r.returncode != 0:
            side.build_seconds = time.monotonic() - t0
            return False
    side.build_seconds = time.monotonic() - t0
    side.built = True
    return True


class Zlib(Project):
    name = "zlib"

    def fetch(self) -> Path:
        return fetch_debian("zlib")

    def build(self, src, env, side):
        e = env.build_env()
        return _timed(side, [(["./configure"], e), (["make", f"-j{env.jobs}"], e)], src)

    def test(self, src, env, side):
        r = _run(["make", "-k", "check"], cwd=src, env=env.test_env(), timeout=900)
        out = r.stdout + r.stderr
        side.log += "$ make -k check\n" + out[-4000:]
        names = {"static": "*** zlib test OK ***", "shared": "*** zlib shared test OK ***",
                 "64-bit": "*** zlib 64-bit test OK ***"}
        side.total = len(names)
        failed = [k for k, marker in names.items() if marker not in out]
        side.passed = side.total - len(failed)
        side.handler_calls += count_handler_calls(out)
        if failed:
            side.outputs["__failed__"] = " ".join(failed)


class Bzip2(Project):
    name = "bzip2"

    def fetch(self) -> Path:
        return fetch_debian("bzip2")

    def build(self, src, env, side):
        e = env.build_env()
        return _timed(side, [(["make", f"-j{env.jobs}", f"CC={env.cc}", "libbz2.a", "bzip2",
                               "bzip2recover"], e)], src)

    def test(self, src, env, side):
        r = _run(["make", f"CC={env.cc}", "test"], cwd=src, env=env.test_env(), timeout=900)
        out = r.stdout + r.stderr
        side.log += "$ make test\n" + out[-4000:]
        side.total = 6
        cmps = [ln for ln in out.splitlines() if ln.startswith("cmp ")]
        bad = len(re.findall(r"differ|EOF on", out))
        side.passed = max(0, len(cmps) - bad) if r.returncode == 0 else max(
            0, len(cmps) - max(bad, 1))
        side.handler_calls += count_handler_calls(out)


class Lua(Project):
    name = "lua"

    def fetch(self) -> Path:
        return fetch_debian("lua5.4")

    def build(self, src, env, side):
        e = env.build_env()
        return _timed(side, [(["make", f"-j{env.jobs}", "linux", f"CC={env.cc} -std=gnu99"], e)],
                      src)

    def test(self, src, env, side):
        lua = src / "src" / "lua"
        failed = []
        for name, script in LUA_SCRIPTS.items():
            path = src / f"ci_{name}.lua"
            path.write_text(script)
            try:
                r = _run([lua, path], cwd=src, env=env.test_env(), timeout=300)
                rc, out, err = r.returncode, r.stdout, r.stderr
            except subprocess.TimeoutExpired:
                rc, out, err = -1, "", "timed out"
            side.total += 1
            side.handler_calls += count_handler_calls(err)
            side.outputs[name] = out
            if rc == 0 and out.rstrip().endswith("ok"):
                side.passed += 1
            else:
                failed.append(name)
                side.log += f"lua {name}: exit {rc}\n{out[-1000:]}\n{err[-1000:]}\n"
        side.outputs["__failed__"] = " ".join(failed)


class Sqlite(Project):
    name = "sqlite"

    def fetch(self) -> Path:
        return fetch_debian("sqlite3")

    #: Files of SQLite's own Tcl test suite run with the instrumented testfixture.
    TCL_TESTS = ("select1", "func", "expr", "join", "where", "window1", "trigger1", "savepoint")

    @staticmethod
    def have_tcl() -> bool:
        return shutil.which("tclsh") is not None and any(
            Path(p).is_file() for p in ("/usr/lib/tcl8.6/tclConfig.sh",
                                        "/usr/lib/x86_64-linux-gnu/tcl8.6/tclConfig.sh"))

    def build(self, src, env, side):
        e = env.build_env()
        # The canonical source tree generates the amalgamation with tclsh; with the Tcl
        # development files the same build also makes `testfixture`, which runs SQLite's own
        # test suite.
        steps = [(["./configure", "--enable-fts5", "--disable-readline"] +
                  ([] if self.have_tcl() else ["--disable-tcl"]), e),
                 (["make", f"-j{env.jobs}", "sqlite3"], e)]
        if self.have_tcl():
            steps.append((["make", f"-j{env.jobs}", "testfixture"], e))
        return _timed(side, steps, src, timeout=5400)

    def test(self, src, env, side):
        shell = src / "sqlite3"
        failed = []
        for name, sql in SQL_SCRIPTS.items():
            db = src / f"ci_{name}.db"
            db.unlink(missing_ok=True)
            try:
                r = _run([shell, "-bail", db], cwd=src, env=env.test_env(), timeout=600,
                         input=sql)
                rc, out, err = r.returncode, r.stdout, r.stderr
            except subprocess.TimeoutExpired:
                rc, out, err = -1, "", "timed out"
            side.total += 1
            side.handler_calls += count_handler_calls(err)
            side.outputs[name] = out
            if rc == 0 and out.rstrip().endswith("done"):
                side.passed += 1
            else:
                failed.append(name)
                side.log += f"sqlite {name}: exit {rc}\n{out[-800:]}\n{err[-800:]}\n"
        side.outputs["__failed__"] = " ".join(failed)
        fixture = src / "testfixture"
        if not fixture.exists():
            return
        for t in self.TCL_TESTS:
            try:
                r = _run([fixture, f"test/{t}.test"], cwd=src, env=env.test_env(), timeout=1200)
                out = r.stdout + r.stderr
            except subprocess.TimeoutExpired:
                out = "timed out"
            side.handler_calls += count_handler_calls(out)
            m = re.search(r"(\d+) errors out of (\d+) tests", out)
            if m:
                errors, total = int(m.group(1)), int(m.group(2))
                side.total += total
                side.passed += total - errors
                if errors:
                    side.log += f"testfixture {t}: {errors} errors\n{out[-1500:]}\n"
            else:
                side.total += 1
                side.log += f"testfixture {t}: no summary\n{out[-1500:]}\n"


class PyPIExtension(Project):
    """A C extension from a PyPI sdist, pip-installed with ``--no-binary NAME`` into a fresh
    virtual environment (the build dependencies come as wheels: we test the extension)."""

    def __init__(self, name: str, smoke: str, pytest_dir: str | None):
        self.name = name
        self.smoke = smoke
        self.pytest_dir = pytest_dir

    def fetch(self) -> Path:
        return fetch_sdist(self.name)

    def build(self, src, env, side):
        venv = src.parent / f"venv-{env.name}"
        e = env.build_env()
        e["LDSHARED"] = f"{env.cc} -shared"
        e["PIP_NO_CACHE_DIR"] = "1"
        e["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        py = venv / "bin" / "python"
        ok = _timed(side, [([sys.executable, "-m", "venv", venv], e),
                           ([py, "-m", "pip", "install", "-q", "pytest"], e)], src)
        if not ok:
            return False
        t0 = time.monotonic()
        # Build the sdist itself (our cached file) with the compiler under test.
        r = _run([py, "-m", "pip", "install", "-q", "--no-binary", self.name,
                  "--no-cache-dir", self.archive], cwd=src.parent, env=e, timeout=3600)
        side.build_seconds = time.monotonic() - t0
        side.log += f"$ pip install --no-binary {self.name}\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
        side.built = r.returncode == 0
        if side.built and env.name == "ci":
            # The extension really went through ci-cc: its .so references the runtime.
            sos = list((venv / "lib").rglob("*.so"))
            mine = [p for p in sos if self.name.lower() in str(p).lower()]
            if not any(b"__ci_budget" in p.read_bytes() for p in mine):
                side.log += "no instrumented shared object found\n"
                side.built = False
        return side.built

    def test(self, src, env, side):
        venv = src.parent / f"venv-{env.name}"
        py = venv / "bin" / "python"
        e = env.test_env()
        with tempfile.TemporaryDirectory(prefix="ci-smoke-") as td:
            r = _run([py, "-c", self.smoke], cwd=td, env=e, timeout=600)
        side.total += 1
        side.handler_calls += count_handler_calls(r.stderr)
        side.outputs["smoke"] = r.stdout
        if r.returncode == 0 and r.stdout.rstrip().endswith("ok"):
            side.passed += 1
        else:
            side.log += f"smoke: exit {r.returncode}\n{r.stdout[-1000:]}{r.stderr[-2000:]}\n"
        if self.pytest_dir and (src / self.pytest_dir).is_dir():
            with tempfile.TemporaryDirectory(prefix="ci-pytest-") as td:
                tests = Path(td) / "tests"
                shutil.copytree(src / self.pytest_dir, tests)
                r = _run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", tests],
                         cwd=td, env=e, timeout=1800)
            out = r.stdout + r.stderr
            side.handler_calls += count_handler_calls(out)
            m_pass = re.search(r"(\d+) passed", out)
            m_fail = re.search(r"(\d+) failed", out)
            m_err = re.search(r"(\d+) errors?\b", out)
            passed = int(m_pass.group(1)) if m_pass else 0
            total = passed + sum(int(m.group(1)) for m in (m_fail, m_err) if m)
            if r.returncode not in (0, 1) and total == 0:
                total = 1  # the test run itself crashed
            side.passed += passed
            side.total += total
            if r.returncode != 0:
                side.log += f"pytest: exit {r.returncode}\n{out[-3000:]}\n"


MSGPACK_SMOKE = r"""
import msgpack, msgpack._cmsgpack as c
data = {"a": [1, 2.5, None, True, b"bytes", "str" * 100], "n": list(range(10000)),
        "nested": [{"k%d" % i: [i] * 5} for i in range(2000)]}
for _ in range(20):
    packed = msgpack.packb(data, use_bin_type=True)
    assert msgpack.unpackb(packed, raw=False, strict_map_key=False) == data
u = msgpack.Unpacker(raw=False)
u.feed(packed[:100]); u.feed(packed[100:])
assert list(u) == [data]
print(len(packed), "ok")
"""

MARKUPSAFE_SMOKE = r"""
import markupsafe, markupsafe._speedups as sp
s = "<script>alert('x & y')</script>" * 1000
for _ in range(200):
    e = markupsafe.escape(s)
assert str(e).startswith("&lt;script&gt;alert(&#39;x &amp; y&#39;)")
inner = getattr(sp, "_escape_inner", None) or getattr(sp, "escape")
assert str(inner("a<b")) == "a&lt;b"
assert markupsafe.Markup("<b>%s</b>") % "<i>" == "<b>&lt;i&gt;</b>"
print(len(e), "ok")
"""


def projects() -> dict[str, Project]:
    ps: list[Project] = [Zlib(), Bzip2(), Lua(), Sqlite(),
                         PyPIExtension("msgpack", MSGPACK_SMOKE, "test"),
                         PyPIExtension("markupsafe", MARKUPSAFE_SMOKE, "tests")]
    return {p.name: p for p in ps}


# ------------------------------------------------------------------------------------------
# Lua scripts and SQL workloads (ours)

LUA_SCRIPTS = {
    "coroutines": r"""
local function gen(n) return coroutine.wrap(function() for i = 1, n do coroutine.yield(i) end end) end
local s = 0
for v in gen(100000) do s = s + v end
assert(s == 5000050000)
-- producer / consumer with status checks
local prod = coroutine.create(function(a)
  local x = a
  for i = 1, 1000 do x = coroutine.yield(x * 2) end
  return "done", x
end)
local ok, v = coroutine.resume(prod, 1)
for i = 1, 1000 do ok, v = coroutine.resume(prod, v % 1000003) end
assert(coroutine.status(prod) == "dead")
-- yield across pcall (5.4), errors inside coroutines, close
local co = coroutine.create(function()
  local ok, err = pcall(function() coroutine.yield(1); error("boom") end)
  coroutine.yield(ok, err)
  error({code = 42})
end)
assert(select(2, coroutine.resume(co)) == 1)
local _, ok2, err2 = coroutine.resume(co)
assert(ok2 == false and err2:find("boom"))
local okc, e = coroutine.resume(co)
assert(not okc and e.code == 42)
local c2 = coroutine.create(function() local t <close> = setmetatable({}, {__close = function() end}); coroutine.yield() end)
coroutine.resume(c2); assert(coroutine.close(c2))
-- many live coroutines
local cs = {}
for i = 1, 2000 do cs[i] = coroutine.create(function(a) while true do a = coroutine.yield(a + i) end end) end
local tot = 0
for r = 1, 20 do for i = 1, #cs do local _, x = coroutine.resume(cs[i], r); tot = tot + x end end
print(s, v, tot)
print("ok")
""",
    "errors": r"""
-- error/pcall unwind with longjmp; xpcall with tracebacks; stack overflow recovered
local n = 0
for i = 1, 20000 do
  local ok, e = pcall(error, {i = i})
  assert(not ok and e.i == i); n = n + 1
end
local function deep(k) if k == 0 then error("bottom") end return deep(k - 1) + 1 end
for i = 1, 200 do local ok, e = pcall(deep, 150); assert(not ok and e:find("bottom")) end
local ok, tb = xpcall(function() local x = nil; return x.y end, debug.traceback)
assert(not ok and tb:find("attempt to index"))
local function inf(x) return inf(x + 1) + 1 end
local ok2, e2 = pcall(inf, 1)
assert(not ok2 and tostring(e2):find("stack overflow"))
-- errors from C functions and metamethods
local ok3, e3 = pcall(string.rep)
assert(not ok3)
local mt = {__add = function(a, b) error("no add", 2) end}
local ok4 = pcall(function() return setmetatable({}, mt) + 1 end)
assert(not ok4)
-- error inside table.sort comparator (C calls Lua, Lua errors, longjmp through qsort)
local t = {} for i = 1, 1000 do t[i] = (i * 7919) % 1009 end
local ok5 = pcall(table.sort, t, function(a, b) if a == 500 then error("cmp") end return a < b end)
assert(not ok5)
-- to-be-closed variables run on error
local closed = 0
pcall(function() local c <close> = setmetatable({}, {__close = function() closed = closed + 1 end}); error("x") end)
assert(closed == 1)
print(n)
print("ok")
""",
    "gc": r"""
collectgarbage("incremental")
local finalized = 0
for round = 1, 5 do
  local keep = {}
  for i = 1, 50000 do
    local t = setmetatable({i, tostring(i), {i}}, {__gc = function() finalized = finalized + 1 end})
    if i % 10 == 0 then keep[#keep + 1] = t end
  end
  collectgarbage()
end
collectgarbage(); collectgarbage()
assert(finalized > 0)
local weak = setmetatable({}, {__mode = "k"})
for i = 1, 10000 do weak[{}] = i end
collectgarbage()
local left = 0 for _ in pairs(weak) do left = left + 1 end
assert(left == 0)
collectgarbage("generational")
local live = {}
for i = 1, 200000 do live[i % 1000 + 1] = {i, i * 2} end
collectgarbage("step", 0)
local kb = collectgarbage("count")
assert(kb > 0)
local s = 0 for i = 1, #live do s = s + live[i][1] end
print(s, finalized >= 225000)
print("ok")
""",
    "strings": r"""
local parts = {}
for i = 1, 20000 do parts[#parts + 1] = string.format("%05d:%x:%q:%g", i, i * 31, "s" .. i, i / 7) end
local big = table.concat(parts, "\n")
local cnt = select(2, big:gsub("%d+:(%x+)", "%1"))
assert(cnt == 20000)
local words = 0 for w in big:gmatch("%a+") do words = words + 1 end
local rev = big:sub(1, 5000):reverse():upper():lower()
local packed = string.pack("<i4 d s2 z", 123456, 3.25, "hello", "zero")
local a, b, c, d = string.unpack("<i4 d s2 z", packed)
assert(a == 123456 and b == 3.25 and c == "hello" and d == "zero")
local u = utf8.char(72, 228, 8364, 128512)
assert(utf8.len(u) == 4)
local cps = {} for _, cp in utf8.codes(u) do cps[#cps + 1] = cp end
assert(cps[4] == 128512)
assert(("x"):rep(10, ",") == "x,x,x,x,x,x,x,x,x,x")
local f = big:find("19999:", 1, true)
local h = 0 for i = 1, #big, 7 do h = (h * 31 + big:byte(i)) % 4294967296 end
print(#big, cnt, words, #rev, f, h)
print("ok")
""",
    "tables": r"""
local t = {}
for i = 1, 100000 do t[i] = (i * 2654435761) % 4294967296 end
table.sort(t)
for i = 2, #t do assert(t[i - 1] <= t[i]) end
table.sort(t, function(a, b) return a > b end)
local m = {}
for i = 1, 50000 do m["k" .. i] = i end
local s = 0 for k, v in pairs(m) do s = s + v end
local V = {}
V.__index = V
V.__add = function(a, b) return setmetatable({x = a.x + b.x}, V) end
local acc = setmetatable({x = 0}, V)
for i = 1, 100000 do acc = acc + setmetatable({x = i}, V) end
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
local i = 0
::top:: i = i + 1 if i < 1000 then goto top end
print(t[1], s, acc.x, fib(25), i, math.maxinteger // 3, 7 // 2, 7.0 // 2, 2^53)
print("ok")
""",
}

SQL_SCRIPTS = {
    "bulk": """
CREATE TABLE t(id INTEGER PRIMARY KEY, a INT, b TEXT, c REAL);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO t(a, b, c) SELECT (i * 7919) % 10007, printf('row-%06d', i), i / 3.0 FROM n;
COMMIT;
CREATE INDEX t_a ON t(a);
SELECT count(*), sum(a), min(b), max(b), round(avg(c), 3) FROM t;
SELECT a, count(*) FROM t WHERE a BETWEEN 100 AND 105 GROUP BY a ORDER BY a;
UPDATE t SET c = c * 2 WHERE a % 3 = 0;
DELETE FROM t WHERE a % 5 = 0;
SELECT count(*), round(sum(c), 2) FROM t;
PRAGMA integrity_check;
SELECT 'done';
""",
    "queries": """
CREATE TABLE emp(id INTEGER PRIMARY KEY, dept INT, salary INT, name TEXT);
CREATE TABLE dept(id INTEGER PRIMARY KEY, name TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50)
INSERT INTO dept SELECT i, 'd' || i FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50000)
INSERT INTO emp SELECT i, i % 50 + 1, (i * 37) % 100000, 'e' || i FROM n;
SELECT d.name, count(*), max(e.salary) FROM emp e JOIN dept d ON d.id = e.dept
  GROUP BY d.id ORDER BY 3 DESC LIMIT 5;
SELECT name, salary, rank() OVER (PARTITION BY dept ORDER BY salary DESC) AS r
  FROM emp WHERE dept = 7 ORDER BY r LIMIT 5;
SELECT sum(s) FROM (SELECT salary - lag(salary, 1, 0) OVER (ORDER BY id) AS s FROM emp);
CREATE VIEW rich AS SELECT * FROM emp WHERE salary > 90000;
SELECT count(*) FROM rich WHERE id IN (SELECT id FROM emp WHERE dept < 10);
SELECT json_group_array(name) FROM (SELECT name FROM emp ORDER BY salary DESC LIMIT 3);
SELECT json_extract('{"a":[1,2,{"b":3}]}', '$.a[2].b');
SELECT 'done';
""",
    "fts_triggers": """
CREATE VIRTUAL TABLE docs USING fts5(body);
CREATE TABLE src(id INTEGER PRIMARY KEY, body TEXT);
CREATE TABLE log(n INTEGER);
CREATE TRIGGER tr AFTER INSERT ON src BEGIN
  INSERT INTO docs(rowid, body) VALUES (new.id, new.body);
  INSERT INTO log VALUES (new.id);
END;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
INSERT INTO src(body) SELECT 'alpha' || (i % 97) || ' beta gamma' || (i % 13) || ' delta' FROM n;
SELECT count(*) FROM docs WHERE docs MATCH 'alpha5 AND gamma3';
SELECT count(*) FROM log;
SAVEPOINT sp; DELETE FROM log; ROLLBACK TO sp; RELEASE sp;
SELECT count(*) FROM log;
SELECT highlight(docs, 0, '[', ']') FROM docs WHERE docs MATCH 'alpha7' ORDER BY rowid LIMIT 2;
SELECT 'done';
""",
}


# ------------------------------------------------------------------------------------------
# Driver


def run_project(p: Project, work: Path, jobs: int = 2, sides=("plain", "ci"),
                log: Callable[[str], None] | None = None) -> Row:
    row = Row(p.name)
    try:
        archive = p.fetch()
    except (FetchError, subprocess.SubprocessError, OSError) as exc:
        row.skipped = f"cannot fetch the source: {exc}"
        return row
    p.archive = archive  # type: ignore[attr-defined]
    plain_env, ci_env = make_envs(work, jobs)
    for env in (plain_env, ci_env):
        if env.name not in sides:
            continue
        side = row.plain if env.name == "plain" else row.ci
        d = work / p.name / env.name
        shutil.rmtree(d, ignore_errors=True)
        src = extract(archive, d)
        if log:
            log(f"realworld: {p.name}: building {env.name} in {src}")
        if p.build(src, env, side):
            if log:
                log(f"realworld: {p.name}: {env.name} built in {side.build_seconds:.1f} s; "
                    "testing")
            p.test(src, env, side)
        else:
            row.note += f" {env.name} build failed;"
    if "plain" in sides and "ci" in sides:
        p.compare(row)
    if row.ci.passed < row.ci.total or row.plain.passed < row.plain.total:
        row.note += " see logs;"
    row.note = " ".join(row.note.split()).replace("|", "/")
    return row


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--projects", default=",".join(DEFAULT_PROJECTS),
                   help="comma-separated projects (default: %(default)s)")
    p.add_argument("--out", metavar="DIR",
                   help="work directory (kept): sources, builds, logs, results.json, table.md")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 2,
                   help="make -j (default: number of CPUs)")


def cmd_realworld(ns: argparse.Namespace) -> int:
    all_projects = projects()
    names = [n for n in ns.projects.split(",") if n]
    unknown = [n for n in names if n not in all_projects]
    if unknown:
        print(f"realworld: error: unknown project(s) {', '.join(unknown)}; known: "
              f"{', '.join(all_projects)}", file=sys.stderr)
        return 2
    work = Path(ns.out) if ns.out else Path(tempfile.mkdtemp(prefix="ci-realworld-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for n in names:
        row = run_project(all_projects[n], work, ns.jobs,
                          log=lambda m: print(m, file=sys.stderr, flush=True))
        rows.append(row)
        (work / f"{n}.log").write_text(f"== plain\n{row.plain.log}\n== ci\n{row.ci.log}\n")
        print(render_table([row]).splitlines()[-1], file=sys.stderr, flush=True)
    table = render_table(rows)
    print(table)
    (work / "table.md").write_text(table + "\n")
    (work / "results.json").write_text(json.dumps(
        [{"project": r.project, "skipped": r.skipped, "note": r.note, "ratio": r.ratio,
          "plain": {k: v for k, v in asdict(r.plain).items() if k not in ("log", "outputs")},
          "ci": {k: v for k, v in asdict(r.ci).items() if k not in ("log", "outputs")}}
         for r in rows], indent=2) + "\n")
    print(f"realworld: logs and results in {work}", file=sys.stderr)
    return 0 if all(r.ok or r.skipped for r in rows) else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m compiler_interrupts realworld")
    add_arguments(p)
    return cmd_realworld(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
