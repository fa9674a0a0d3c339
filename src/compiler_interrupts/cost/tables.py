"""Cost data only: which opcodes and intrinsics generate no machine code."""

from __future__ import annotations

#: Opcodes that cost nothing (``;`` is a comment line kept inside a body).
FREE_OPCODES = frozenset({"phi", ";"})

#: Intrinsic name prefixes (without ``@``) that generate no code.
FREE_INTRINSIC_PREFIXES = (
    "llvm.dbg.",
    "llvm.lifetime.",
    "llvm.assume",
    "llvm.experimental.noalias.scope.decl",
    "llvm.invariant.start",
    "llvm.invariant.end",
    "llvm.launder.invariant.group",
    "llvm.strip.invariant.group",
    "llvm.sideeffect",
    "llvm.pseudoprobe",
    "llvm.var.annotation",
    "llvm.ptr.annotation",
    "llvm.annotation",
    "llvm.codeview.annotation",
    "llvm.donothing",
    "llvm.type.test",
    "llvm.public.type.test",
    "llvm.threadlocal.address",
)


#: Estimated IR-instruction cost of calls to common external (uninstrumented) functions.
#: Names map to a fixed cost; ``None`` means "size dependent" (see :func:`cost.model.call_cost`).
EXTERNAL_COSTS: dict[str, int | None] = {
    # libm
    **{f: 20 for f in ("sqrt", "sqrtf", "fabs", "fabsf", "floor", "floorf", "ceil", "ceilf",
                       "round", "roundf", "trunc", "truncf", "fmin", "fmax", "fminf", "fmaxf",
                       "copysign", "lround", "lrint", "rint", "nearbyint")},
    **{f: 40 for f in ("exp", "expf", "exp2", "log", "logf", "log2", "log10", "pow", "powf",
                       "sin", "sinf", "cos", "cosf", "tan", "tanf", "atan", "atan2", "atanf",
                       "asin", "acos", "sinh", "cosh", "tanh", "erf", "erfc", "cbrt", "hypot",
                       "fmod", "fmodf", "expm1", "log1p", "sincos")},
    # memory and strings
    "memcpy": None, "memmove": None, "memset": None, "memcmp": None, "bcmp": None,
    "strlen": 16, "strnlen": 16, "strcmp": 16, "strncmp": 16, "strchr": 16, "strrchr": 16,
    "strcpy": 16, "strncpy": 16, "strcat": 20, "strstr": 40, "strdup": 60, "strtol": 30,
    "strtoul": 30, "strtod": 60, "atoi": 30, "atof": 60, "toupper": 4, "tolower": 4,
    "isalpha": 4, "isdigit": 4, "isspace": 4, "isalnum": 4, "isupper": 4, "islower": 4,
    # allocation
    "malloc": 50, "calloc": 80, "realloc": 80, "free": 40, "aligned_alloc": 60,
    "posix_memalign": 60, "_Znwm": 50, "_Znam": 50, "_ZdlPv": 40, "_ZdaPv": 40,
    "_ZdlPvm": 40, "_ZdaPvm": 40,
    # I/O (dominated by the system call or formatting)
    "printf": 200, "fprintf": 200, "sprintf": 150, "snprintf": 150, "puts": 100, "fputs": 100,
    "putchar": 20, "fputc": 20, "fwrite": 100, "fread": 100, "fflush": 100,
    # time, threads, misc
    "clock_gettime": 40, "gettimeofday": 40, "time": 20, "rand": 10, "rand_r": 10,
    "pthread_mutex_lock": 25, "pthread_mutex_unlock": 25, "pthread_spin_lock": 15,
    "pthread_spin_unlock": 10, "pthread_self": 4, "sched_yield": 100,
    "__errno_location": 3, "abs": 2, "labs": 2,
}

#: Default estimate for an external function not in :data:`EXTERNAL_COSTS`.
DEFAULT_EXTERNAL_COST = 20

#: External functions known never to call back into user code: calls to them need no
#: write-back of a function's cached budget.
NO_CALLBACK = frozenset(
    name for name in EXTERNAL_COSTS
    if not name.startswith(("pthread_mutex", "sched_"))
)

#: Functions that return twice: a function calling one keeps its budget in memory.
RETURNS_TWICE = frozenset(
    {"setjmp", "_setjmp", "sigsetjmp", "__sigsetjmp", "savectx", "vfork", "getcontext"}
)


def load_cost_file(path: str) -> dict[str, int | None]:
    """Read a cost table override: one ``name cost`` per line (``#`` starts a comment).

    The result is :data:`EXTERNAL_COSTS` updated with the file's entries. Raises ``ValueError``
    naming the line on malformed input.
    """
    table: dict[str, int | None] = dict(EXTERNAL_COSTS)
    with open(path, encoding="utf-8") as f:
        for n, raw in enumerate(f, 1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2 or not parts[1].isdigit():
                raise ValueError(f"{path}:{n}: expected 'function_name cost', got {raw.strip()!r}")
            table[parts[0].lstrip("@")] = int(parts[1])
    return table
