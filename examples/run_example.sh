#!/usr/bin/env bash
# Build examples/ticker.c with Compiler Interrupts and without probes, run both, check that the
# program's result is the same, and print the handler table of the instrumented run.
#
#   examples/run_example.sh [interval_cycles=5000]
#
# Environment: CI_DESIGN (probe design for the instrumented build, default naive),
#              CI_CC (the driver, default ci-cc).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
design=${CI_DESIGN:-naive}
interval=${1:-5000}
cc=${CI_CC:-ci-cc}

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "run_example.sh: '$cc' not found; install the project first: pip install -e ." >&2
    exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ci-example.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== building ticker.c: $cc -O2 --ci-design=$design, and --ci-design=none"
"$cc" -O2 -Wall --ci-design="$design" "$here/ticker.c" -o "$work/ticker"
"$cc" -O2 -Wall --ci-design=none "$here/ticker.c" -o "$work/ticker-none"

"$work/ticker" "$interval" >"$work/with-ci.txt"
"$work/ticker-none" "$interval" >"$work/without-ci.txt"

with=$(grep '^result:' "$work/with-ci.txt")
without=$(grep '^result:' "$work/without-ci.txt")
echo "== results"
echo "  design=$design: $with"
echo "  design=none:  $without"
if [ "$with" != "$without" ]; then
    echo "run_example.sh: FAIL: the instrumented build computed a different result" >&2
    exit 1
fi
echo "  identical"

echo "== handler table (design=$design)"
grep -v '^result:' "$work/with-ci.txt"
