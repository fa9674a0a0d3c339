#!/usr/bin/env bash
# Installs what compiler-interrupts needs on a Debian/Ubuntu machine: clang (>= 14, the newest
# available), zlib headers (one benchmark uses zlib), make, and this package with its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

have_clang() {
  for c in clang-22 clang-21 clang-20 clang-19 clang-18 clang-17 clang-16 clang-15 clang-14 clang; do
    command -v "$c" >/dev/null 2>&1 && return 0
  done
  return 1
}

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO=sudo; fi
need_apt=()
have_clang || need_apt+=(clang)
[ -f /usr/include/zlib.h ] || need_apt+=(zlib1g-dev)
command -v make >/dev/null 2>&1 || need_apt+=(make)
if [ ${#need_apt[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # Prefer the newest clang the archive offers.
    if [[ " ${need_apt[*]} " == *" clang "* ]]; then
      best=$(apt-cache search --names-only '^clang-[0-9]+$' 2>/dev/null | awk '{print $1}' | sort -t- -k2 -n | tail -1)
      if [ -n "$best" ]; then need_apt=("${need_apt[@]/clang/$best}"); fi
    fi
    $SUDO apt-get install -y -qq "${need_apt[@]}"
  else
    echo "setup: please install: ${need_apt[*]}" >&2
    exit 1
  fi
fi
python3 -m pip install -q -e '.[test,numba]'
echo "setup: done ($(python3 -c 'from compiler_interrupts.toolchain.clang import find_clang; print(find_clang())'))"
