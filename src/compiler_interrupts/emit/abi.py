"""The runtime ABI: every symbol that instrumented code and the native runtime share.

This is the only place that spells these names on the Python side; the C side is
``runtime/ci_lib.h`` + ``runtime/ci_runtime.c``, and a test checks that the two agree.
"""

from __future__ import annotations

#: Per-thread countdown of IR instructions (``int64_t``) until the runtime's slow path must run.
#: Thread-local, initial-exec TLS model, defined in the runtime.
BUDGET = "__ci_budget"

#: ``void __ci_slow_path(int64_t probe_cost)``: called by a probe when the budget went negative.
#: ``probe_cost`` is what that probe just subtracted (lets the runtime fire at the probe nearest
#: the cycle target).
SLOW_PATH = "__ci_slow_path"

#: The same slow path with the ``preserve_allcc`` calling convention (x86-64, runtime built
#: with clang): what probes call, so that the fast path needs no register spills.
SLOW_PATH_PRESERVE = "__ci_slow_path_pa"

#: Prefix of every symbol the runtime defines; functions with these names are never instrumented.
RUNTIME_PREFIXES = ("__ci_", "ci_", "register_ci", "deregister_ci")

#: Public C API (reference names), declared in ``ci_lib.h``.
PUBLIC_API = (
    "register_ci",
    "deregister_ci",
    "ci_disable",
    "ci_enable",
    "register_ci_disable_hook",
    "register_ci_enable_hook",
    "ci_instruction_count",
    "ci_handler_calls",
    "ci_after_handler",
)

#: Header users include.
HEADER = "ci_lib.h"

#: Budget a thread holds while no handler is registered: large enough that the slow path is
#: essentially never taken.
IDLE_BUDGET = 1 << 62
