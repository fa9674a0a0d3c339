"""Fetch LevelDB 1.23 (Debian source package), build it with ``ci-c++``, build ``sched_server``.

``build_leveldb(design)`` returns the directory holding ``libleveldb.a`` and ``include/``:
CMake + Ninja (or Make), ``CC``/``CXX`` = small wrapper scripts that run this package's driver
(``python -m compiler_interrupts cc|c++ --ci-design=DESIGN``), Release, static, no tests, no
benchmarks, no compression libraries.  Builds are cached under
``$CI_CACHE_DIR/sched/`` (default ``~/.cache/compiler-interrupts/sched/``), keyed by the design
and a hash of the instrumentation pipeline's sources, and serialised with a lock file.

``server(design)`` builds ``sched_server`` (sched_server.cc + ctx_switch.S) against that
LevelDB with the same design, also cached (keyed by the sources too).

Setup is automatic where possible: ``apt-get source`` needs ``deb-src`` lines and ``dpkg-dev``
(see ``compiler_interrupts.realworld``); the build needs ``cmake`` and ``ninja-build`` (or
``make``).  Missing tools are installed with ``apt-get`` when running as root; otherwise
``SetupError`` says what to install.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from importlib import resources
from pathlib import Path

from ..common import file_lock

VERSION = "1.23"
APT_PACKAGES = ("cmake", "ninja-build", "dpkg-dev")
SCRUB_ENV = ("CI_DESIGN", "CI_FLAGS", "CI_VERBOSE", "CI_STATS", "CI_AUTOSTART_CYCLES",
             "CI_AUTOSTART_IR", "CI_INTERVAL_LOG", "CC", "CXX", "CFLAGS", "CXXFLAGS", "LDFLAGS",
             "CPPFLAGS", "MAKEFLAGS", "MFLAGS")
SERVER_SOURCES = ("sched_server.cc", "ctx_switch.S")
SERVER_FLAGS = ("-O2", "-g", "-std=c++17", "-pthread",
                "-Wl,--wrap=pthread_mutex_lock,--wrap=pthread_mutex_unlock,"
                "--wrap=pthread_mutex_trylock")


class SetupError(Exception):
    """LevelDB cannot be fetched or built here (the message says why / what to install)."""


def source_dir() -> Path:
    return Path(str(resources.files("compiler_interrupts.apps.sched")))


def cache_root() -> Path:
    from ...runtime.build import cache_dir

    d = Path(cache_dir()) / "sched"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _pkg_root() -> Path:
    return Path(__file__).resolve().parents[2]  # .../compiler_interrupts


def pipeline_hash() -> str:
    """Hash of what decides the probes and the runtime (so a changed pass rebuilds LevelDB)."""
    root = _pkg_root()
    h = hashlib.sha256()
    files = sorted([*root.glob("designs/*.py"), *root.glob("emit/*.py"), *root.glob("cost/*.py"),
                    root / "pipeline.py", *root.glob("runtime/*.c"), *root.glob("runtime/*.h"),
                    *root.glob("toolchain/*.py")])
    for p in files:
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _have(tool: str) -> bool:
    return shutil.which(tool) is not None


def ensure_tools() -> None:
    """cmake, a generator (ninja or make) and dpkg-source; apt-get install them as root."""
    missing = [p for p, t in (("cmake", "cmake"), ("ninja-build", "ninja"),
                              ("dpkg-dev", "dpkg-source")) if not _have(t)]
    if "ninja-build" in missing and _have("make"):
        missing.remove("ninja-build")
    if not missing:
        return
    if os.geteuid() == 0 and _have("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        r = subprocess.run(["apt-get", "install", "-y", "-qq", *missing], capture_output=True,
                           text=True, env=env)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env)
            r = subprocess.run(["apt-get", "install", "-y", "-qq", *missing],
                               capture_output=True, text=True, env=env)
        if r.returncode == 0:
            return
        raise SetupError(f"apt-get install {' '.join(missing)} failed: {r.stderr[-300:]}")
    raise SetupError(f"missing tools; install them with: sudo apt-get install {' '.join(missing)}")


def fetch_source() -> Path:
    """The cached upstream tarball of Debian's leveldb source package."""
    from ...realworld import FetchError, fetch_debian

    ensure_tools()
    try:
        tar = fetch_debian("leveldb")
    except FetchError as e:
        raise SetupError(f"cannot fetch LevelDB with apt-get source: {e}") from None
    if f"_{VERSION}" not in tar.name:
        raise SetupError(f"expected leveldb {VERSION}, apt-get source gave {tar.name}")
    return tar


def driver_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUB_ENV}
    src_parent = str(_pkg_root().parent)
    env["PYTHONPATH"] = src_parent + (os.pathsep + env["PYTHONPATH"]
                                      if env.get("PYTHONPATH") else "")
    return env


def _wrappers(d: Path, design: str) -> tuple[Path, Path]:
    """cc/c++ scripts running this package's driver with --ci-design=design."""
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for name, sub in (("cc", "cc"), ("cxx", "c++")):
        p = d / f"ci-{name}-{design}"
        p.write_text("#!/bin/sh\n"
                     f"PYTHONPATH={_pkg_root().parent}${{PYTHONPATH:+:$PYTHONPATH}}\n"
                     "export PYTHONPATH\n"
                     f"exec {sys.executable} -m compiler_interrupts {sub} "
                     f"--ci-design={design} \"$@\"\n")
        p.chmod(0o755)
        out.append(p)
    return out[0], out[1]


def _run(cmd, cwd=None, env=None, timeout=900) -> None:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise SetupError(f"{' '.join(map(str, cmd))} failed:\n{(r.stdout + r.stderr)[-2000:]}")


def build_leveldb(design: str, log=None) -> Path:
    """Build (or reuse) LevelDB with ``--ci-design=design``; returns the install-like dir."""
    key = f"leveldb-{VERSION}-{design}-{pipeline_hash()}"
    root = cache_root()
    dest = root / key
    with file_lock(root / f"{key}.lock"):
        if (dest / "libleveldb.a").exists() and (dest / "include" / "leveldb" / "db.h").exists():
            return dest
        tar = fetch_source()
        if log:
            log(f"building LevelDB {VERSION} with ci-c++ --ci-design={design} (cached in {dest})")
        with tempfile.TemporaryDirectory(prefix="ci-leveldb-") as td:
            tdp = Path(td)
            with tarfile.open(tar) as tf:
                try:
                    tf.extractall(tdp, filter="tar")
                except TypeError:
                    tf.extractall(tdp)
            srcs = [p for p in tdp.iterdir() if p.is_dir()]
            if len(srcs) != 1:
                raise SetupError(f"{tar.name}: unexpected layout")
            src = srcs[0]
            cc, cxx = _wrappers(tdp / "bin", design)
            bdir = tdp / "build"
            bdir.mkdir()
            gen = ["-G", "Ninja"] if _have("ninja") else []
            env = driver_env()
            _run(["cmake", *gen, "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_C_COMPILER={cc}",
                  f"-DCMAKE_CXX_COMPILER={cxx}", "-DLEVELDB_BUILD_TESTS=OFF",
                  "-DLEVELDB_BUILD_BENCHMARKS=OFF", "-DLEVELDB_INSTALL=OFF",
                  "-DBUILD_SHARED_LIBS=OFF", "-DHAVE_SNAPPY=OFF", "-DHAVE_CRC32C=OFF",
                  "-DHAVE_TCMALLOC=OFF", str(src)], cwd=bdir, env=env)
            jobs = str(os.cpu_count() or 2)
            if gen:
                _run(["ninja", "-j", jobs, "leveldb"], cwd=bdir, env=env, timeout=1800)
            else:
                _run(["make", f"-j{jobs}", "leveldb"], cwd=bdir, env=env, timeout=1800)
            tmp = root / (key + ".part")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            shutil.copy(bdir / "libleveldb.a", tmp / "libleveldb.a")
            shutil.copytree(src / "include", tmp / "include")
            shutil.rmtree(dest, ignore_errors=True)
            os.replace(tmp, dest)
    return dest


def server_hash(design: str, lib: Path) -> str:
    h = hashlib.sha256(design.encode())
    h.update(str(lib).encode())
    h.update(" ".join(SERVER_FLAGS).encode())
    for s in SERVER_SOURCES:
        h.update((source_dir() / s).read_bytes())
    return h.hexdigest()[:12]


def server(design: str, log=None) -> Path:
    """``sched_server`` built with ``--ci-design=design`` against LevelDB of the same design."""
    lib = build_leveldb(design, log=log)
    exe = cache_root() / f"sched_server-{design}-{server_hash(design, lib)}"
    with file_lock(cache_root() / "server.lock"):
        if exe.exists():
            return exe
        src = source_dir()
        cmd = [sys.executable, "-m", "compiler_interrupts", "c++", f"--ci-design={design}",
               *SERVER_FLAGS, "-I", str(lib / "include"),
               *[str(src / s) for s in SERVER_SOURCES], str(lib / "libleveldb.a"),
               "-o", str(exe) + ".part"]
        _run(cmd, env=driver_env())
        os.replace(str(exe) + ".part", exe)
    return exe
