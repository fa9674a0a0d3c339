"""Finding (or installing) what the net application needs: DPDK with the ``net_memif`` PMD, and
lwIP's sources.

DPDK comes from Debian (``libdpdk-dev``, which pulls in ``librte-net-memif23``).  lwIP: Debian's
``liblwip-dev`` is built for the Unix port with threads (``NO_SYS=0``, ``sys_arch`` with
pthreads, its own ``lwipopts.h`` baked into the shared library), so it cannot serve a
single-threaded raw-API stack polled from a CI handler.  We compile lwIP's core ourselves, with
our ``lwipopts.h`` (``NO_SYS=1``) and through ``ci-cc`` (so the stack carries probes in the ``ci``
build), from Debian's source package: ``apt-get source lwip`` (needs ``dpkg-dev`` and a
``deb-src`` entry) into ``~/.cache/compiler-interrupts/net/``, or any lwIP 2.1 tree given by
``CI_NET_LWIP_SRC``.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

APT_PACKAGES = ("libdpdk-dev", "pkg-config", "dpkg-dev")
#: lwIP sources compiled into the application (relative to lwIP's src/)
LWIP_FILES = (
    "core/init.c", "core/def.c", "core/inet_chksum.c", "core/ip.c", "core/mem.c",
    "core/memp.c", "core/netif.c", "core/pbuf.c", "core/stats.c", "core/sys.c", "core/tcp.c",
    "core/tcp_in.c", "core/tcp_out.c", "core/timeouts.c", "core/udp.c", "core/raw.c",
    "core/ipv4/etharp.c", "core/ipv4/icmp.c", "core/ipv4/ip4.c", "core/ipv4/ip4_addr.c",
    "core/ipv4/ip4_frag.c", "netif/ethernet.c",
)


class SetupError(RuntimeError):
    """Something the application needs is missing and could not be installed."""


def cache_dir() -> Path:
    base = os.environ.get("CI_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "compiler-interrupts")
    return Path(base) / "net"


def _is_lwip_src(d: Path) -> bool:
    return (d / "core" / "tcp_in.c").is_file() and (d / "include" / "lwip" / "tcp.h").is_file()


def find_lwip_src() -> Path | None:
    """lwIP's ``src`` directory, or None."""
    env = os.environ.get("CI_NET_LWIP_SRC")
    cands = []
    if env:
        cands += [Path(env), Path(env) / "src"]
    cands += [Path(p) for p in sorted(glob.glob(str(cache_dir() / "lwip-src" / "lwip-*" / "src")),
                                      reverse=True)]
    for c in cands:
        if _is_lwip_src(c):
            return c
    return None


def memif_pmd() -> str | None:
    pats = ["/usr/lib/*/dpdk/pmds-*/librte_net_memif.so*", "/usr/lib/*/librte_net_memif.so*",
            "/usr/local/lib/*/dpdk/pmds-*/librte_net_memif.so*"]
    for p in pats:
        hits = sorted(glob.glob(p))
        if hits:
            return hits[0]
    return None


def dpdk_flags() -> tuple[list[str], list[str]] | None:
    """(cflags, libs) of libdpdk from pkg-config, or None."""
    if not shutil.which("pkg-config"):
        return None
    try:
        cf = subprocess.run(["pkg-config", "--cflags", "libdpdk"], capture_output=True, text=True)
        lb = subprocess.run(["pkg-config", "--libs", "libdpdk"], capture_output=True, text=True)
    except OSError:
        return None
    if cf.returncode or lb.returncode:
        return None
    return cf.stdout.split(), lb.stdout.split()


def missing() -> list[str]:
    """What is missing, in words (empty: everything is there)."""
    out = []
    if dpdk_flags() is None:
        out.append("DPDK development files (pkg-config libdpdk)")
    if memif_pmd() is None:
        out.append("DPDK's net_memif PMD (librte-net-memif23)")
    if find_lwip_src() is None:
        out.append("lwIP 2.1 sources")
    return out


def instructions() -> str:
    return ("the net application needs DPDK (with the net_memif PMD) and lwIP's sources:\n"
            f"  apt-get install -y {' '.join(APT_PACKAGES)}\n"
            "  (a deb-src entry for Debian's sources, then:)\n"
            f"  mkdir -p {cache_dir() / 'lwip-src'} && cd {cache_dir() / 'lwip-src'} && "
            "apt-get source lwip\n"
            "or set CI_NET_LWIP_SRC to an lwIP 2.1 source tree.")


def _run(cmd: list[str], cwd: Path | None = None, log=print) -> bool:
    log("setup: " + " ".join(cmd))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if p.returncode:
        log((p.stdout + p.stderr).strip()[-1500:])
    return p.returncode == 0


def ensure(install: bool = True, log=print) -> None:
    """Make sure DPDK and lwIP's sources are there; install them with apt when running as root
    (and ``install``); else raise SetupError with what to install."""
    miss = missing()
    if not miss:
        return
    can = install and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")
    if not can:
        raise SetupError("missing: " + ", ".join(miss) + "\n" + instructions())
    need_pkgs = dpdk_flags() is None or memif_pmd() is None or (
        find_lwip_src() is None and not shutil.which("dpkg-source"))
    if need_pkgs:
        if not _run(["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES],
                    log=log):
            _run(["apt-get", "update"], log=log)
            _run(["apt-get", "install", "-y", "--no-install-recommends", *APT_PACKAGES], log=log)
    if find_lwip_src() is None:
        d = cache_dir() / "lwip-src"
        d.mkdir(parents=True, exist_ok=True)
        if not _run(["apt-get", "source", "-qq", "lwip"], cwd=d, log=log):
            _run(["apt-get", "update"], log=log)
            _run(["apt-get", "source", "-qq", "lwip"], cwd=d, log=log)
    miss = missing()
    if miss:
        raise SetupError("still missing after apt-get: " + ", ".join(miss) + "\n" +
                         instructions())
