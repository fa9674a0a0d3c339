"""Text-level IR transformations around the CI pass for Numba modules.

Numba's calling convention: a jitted function returns an ``i32`` status (0 ok, -1 "a Python
error is set", -2 none, -3 StopIteration, >= 1 user exception) and writes its result through
``%retptr``; ``%excinfo`` carries user exceptions. Callers check the status and propagate it up
to the CPython wrapper, which raises. So a probe that wants to stop the code makes the function
``ret i32 -1`` after the slow path has set a Python exception.

Three steps, all on the textual IR that llvmlite prints:

* :func:`pre_o3` (before Numba's module optimisation): the status of every function must stay
  opaque to the optimizer, or callers drop their status checks (IPSCCP folds the ``ret i32 0`` of
  a function that "cannot fail", return ``range`` attributes make -1 poison). Externally visible
  Numba functions get ``weak_odr`` linkage for the duration of O3 (not an exact definition:
  IPSCCP and the attribute inference leave them alone, the inliner does not), and ``range``
  return attributes are dropped.
* :func:`prepare_for_pass` (after O3): linked-in ``linkonce``/``weak`` copies become internal, so
  that calls bind to the instrumented copy of this module (MCJIT would bind them to the first,
  unprobed definition loaded), and so that the pass may treat small ones as probe-free leaves.
* :func:`finish` (after the pass): probes in status-returning functions become "probe, and
  return -1 if the slow path says so" (block split, like the inliner would do); parfor gufuncs
  return early instead; hooks go into CPython wrappers (per-call state) and around
  ``numba_parallel_for`` (workers learn which thread launched them); the probe helpers are
  defined (they reach the budget through ``%fs`` + an offset exported by the native helper).
"""

from __future__ import annotations

import platform
import re

from ...emit import probes as P
from ...ir.model import Block, Function, Instr, Module
from ...ir.parser import parse_module

_NAME = r'@(?:[-a-zA-Z$._0-9]+|"[^"]*")'
_LINKAGES = ("private", "internal", "available_externally", "linkonce", "weak", "common",
             "appending", "extern_weak", "linkonce_odr", "weak_odr", "external")
_RANGE_RE = re.compile(r"\brange\(i32 -?\d+, -?\d+\) ")
_DEFINE_RE = re.compile(r"^define ([^@]*?)(" + _NAME + r")\(")

#: Prefix of the CPython wrapper Numba emits for each jitted function.
CPYTHON_PREFIX = "_ZN7cpython"
#: Parfor gufuncs (the function each parallel worker runs over its chunk).
GUFUNC_PREFIX = "__gufunc__."
PARALLEL_FOR = "@numba_parallel_for"

# The helpers the pass emits calls to (emit/probes.py); we define them (emit_runtime_interface
# is off) for Numba's JIT.
PROBE = P.PROBE_FN
PROBE_LOCAL = P.PROBE_LOCAL_FN
FLUSH = P.FLUSH_FN
RELOAD = P.RELOAD_FN
# Status probes are expanded in the function (so that the fast path is `sub; js` and nothing
# else): `%due = dec(cost)`; `br %due, slow, cont`;
# slow: `%st = slow(cost)`; `br st!=0, fail, cont`.
DEC = "@__ci_nb_dec"
DEC_LOCAL = "@__ci_nb_dec_local"
SLOW = "@__ci_nb_slow_tls"
SLOW_LOCAL = "@__ci_nb_slow_local"


def _bare(name: str) -> str:
    """``@"x.y"`` / ``@x`` -> ``x.y`` / ``x``."""
    return name[1:].strip('"')


def is_status_header(header: str) -> bool:
    """A definition following Numba's calling convention (status + ``%retptr``/``%excinfo``)."""
    m = _DEFINE_RE.match(header)
    if m is None or "%retptr" not in header or "%excinfo" not in header:
        return False
    return re.search(r"(^|\s)i32$", m.group(1).rstrip()) is not None


def _linkage(pre: str) -> str:
    for word in pre.split():
        if word in _LINKAGES:
            return word
    return "external"


def _strip_range_for(line: str, names: set[str]) -> str:
    """Drop ``range(i32 ..)`` return attributes on a definition/call of one of ``names``."""
    if "range(i32" not in line:
        return line
    for m in re.finditer(r"\bi32 (" + _NAME + r")\(", line):
        if m.group(1) in names:
            head = line[: m.start()]
            cut = head.rfind(" call ") if " call " in head else head.rfind("define ")
            if cut < 0:
                cut = 0
            line = line[:cut] + _RANGE_RE.sub("", line[cut : m.start()]) + line[m.start() :]
            break
    return line


def status_functions(text: str) -> set[str]:
    """``@names`` of the status-returning (Numba convention) definitions in ``text``."""
    out = set()
    for line in text.splitlines():
        if line.startswith("define ") and is_status_header(line):
            m = _DEFINE_RE.match(line)
            out.add(m.group(2))
    return out


def pre_o3(text: str) -> tuple[str, set[str]]:
    """Make statuses opaque to O3. Returns the new text and the names turned ``weak_odr``
    (to be made external again after O3)."""
    names = status_functions(text)
    weakened: set[str] = set()
    out = []
    for line in text.splitlines():
        if line.startswith("define "):
            m = _DEFINE_RE.match(line)
            if m is not None and m.group(2) in names:
                if _linkage(m.group(1)) == "external":
                    line = "define weak_odr " + line[len("define "):]
                    weakened.add(m.group(2))
                line = _strip_range_for(line, names)
        elif "call" in line and "range(i32" in line:
            line = _strip_range_for(line, names)
        out.append(line)
    return "\n".join(out) + "\n", weakened


def prepare_for_pass(text: str, keep: set[str]) -> str:
    """Internalize linked-in linkonce/weak function copies (not those in ``keep``)."""
    out = []
    for line in text.splitlines():
        if line.startswith("define "):
            m = _DEFINE_RE.match(line)
            if m is not None and m.group(2) not in keep:
                pre = m.group(1)
                if _linkage(pre) in ("linkonce", "linkonce_odr", "weak", "weak_odr"):
                    words = [w for w in pre.split() if w not in ("linkonce", "linkonce_odr", "weak",
                                                                 "weak_odr", "hidden", "protected",
                                                                 "dllexport", "dllimport")]
                    line = "define internal " + " ".join(words) + (" " if words else "") + \
                        line[m.start(2):]
                    line = re.sub(r" comdat(\([^)]*\))?(?= |$)", "", line)
        out.append(line)
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------ finish


def _split_args(arglist: str) -> list[str]:
    """Top-level comma split of a call's argument list."""
    out, depth, cur = [], 0, []
    for c in arglist:
        if c in "([{<":
            depth += 1
        elif c in ")]}>":
            depth -= 1
        if c == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
    if "".join(cur).strip():
        out.append("".join(cur).strip())
    return out


class _Namer:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, base: str) -> str:
        self.n += 1
        return f"ci.nb.{base}{self.n}"


def _phi_relabel(blk: Block, old: str, new: str) -> None:
    pat = re.compile(r",(\s*)%" + re.escape(old) + r"(\s*\])")
    for i, ins in enumerate(blk.instrs):
        if ins.opcode == "phi":
            text = pat.sub(lambda m: f",{m.group(1)}%{new}{m.group(2)}", ins.text)
            if text != ins.text:
                blk.instrs[i] = Instr(text)
        elif ins.opcode not in (";",) and not ins.is_debug_record:
            break


def _label_ref(label: str) -> str:
    return "%" + label


#: Calls that open / close a region the function must not leave early: the GIL taken
#: (``with gil`` blocks, print, the error path of parfor gufuncs) or released (parallel regions,
#: nogil sections). Probes inside stay non-failing; a stop they see waits for the next probe.
BRACKET_OPEN = frozenset({"@numba_gil_ensure", "@PyGILState_Ensure", "@PyEval_SaveThread"})
BRACKET_CLOSE = frozenset({"@numba_gil_release", "@PyGILState_Release", "@PyEval_RestoreThread"})


def _probes_in_brackets(fn: Function) -> set[int]:
    """ids of probe instructions that may run while a bracket is open (forward may-analysis)."""
    if not any(ins.callee in BRACKET_OPEN for b in fn.blocks for ins in b.instrs):
        return set()
    preds: dict[str, list[str]] = {b.label: [] for b in fn.blocks}
    for b in fn.blocks:
        for s_ in b.successors:
            if s_ in preds:
                preds[s_].append(b.label)
    out_depth: dict[str, int] = {}
    inside: set[int] = set()
    changed = True
    rounds = 0
    while changed and rounds < 50:
        changed = False
        rounds += 1
        for b in fn.blocks:
            d = max((out_depth.get(p, 0) for p in preds[b.label]), default=0)
            for ins in b.instrs:
                c = ins.callee
                if c in BRACKET_OPEN:
                    d = min(d + 1, 8)
                elif c in BRACKET_CLOSE:
                    d = max(d - 1, 0)
                elif d > 0 and c in (PROBE, PROBE_LOCAL):
                    inside.add(id(ins))
            if out_depth.get(b.label, -1) != d:
                out_depth[b.label] = d
                changed = True
    return inside


def _rewrite_probes(fn: Function, fail_ret: str, namer: _Namer, stats: dict, prof: int) -> bool:
    """Turn each probe of ``fn`` into a status probe that leaves through a shared block
    returning ``fail_ret`` (a ``ret`` instruction). Returns True if anything changed."""
    if not any(ins.callee in (PROBE, PROBE_LOCAL) for b in fn.blocks for ins in b.instrs):
        return False
    bracketed = _probes_in_brackets(fn)
    if bracketed:
        stats["bracketed_probes"] = stats.get("bracketed_probes", 0) + len(bracketed)
    fail_label = namer("fail")
    bmap = {b.label: b for b in fn.blocks}
    new_blocks: list[Block] = []
    entry_chain: set[int] = set()
    for bi, blk in enumerate(fn.blocks):
        cur = blk
        first = True
        while True:
            idx = next((i for i, ins in enumerate(cur.instrs)
                        if ins.callee in (PROBE, PROBE_LOCAL) and id(ins) not in bracketed), None)
            if idx is None:
                new_blocks.append(cur)
                if bi == 0:
                    entry_chain.add(len(new_blocks) - 1)
                break
            probe = cur.instrs[idx]
            text = probe.text.strip()
            due, st, flag = namer("due"), namer("st"), namer("f")
            slow, cont = namer("slow"), namer("c")
            if PROBE_LOCAL in text:
                args = text[text.index(f"{PROBE_LOCAL}(") + len(PROBE_LOCAL) + 1: text.rindex(")")]
                dec, slow_fn = DEC_LOCAL, SLOW_LOCAL
            else:
                args = text[text.index(f"{PROBE}(") + len(PROBE) + 1: text.rindex(")")]
                dec, slow_fn = DEC, SLOW
            rest = cur.instrs[idx + 1:]
            cur.instrs[idx:] = [
                Instr(f"  %{due} = call i1 {dec}({args})"),
                Instr(f"  br i1 %{due}, label %{slow}, label %{cont}, !prof !{prof}"),
            ]
            new_blocks.append(cur)
            if bi == 0:
                entry_chain.add(len(new_blocks) - 1)
            new_blocks.append(Block(label=slow, label_line=f"{slow}:", instrs=[
                Instr(f"  %{st} = call i32 {slow_fn}({args})"),
                Instr(f"  %{flag} = icmp ne i32 %{st}, 0"),
                Instr(f"  br i1 %{flag}, label %{fail_label}, label %{cont}"),
            ]))
            nxt = Block(label=cont, label_line=f"{cont}:", instrs=rest)
            stats["status_probes"] = stats.get("status_probes", 0) + 1
            cur = nxt
            first = False
        if not first:
            # The original terminator now ends `cur`: successors' PHIs must name it.
            for succ in set(cur.successors):
                if succ in bmap:
                    _phi_relabel(bmap[succ], blk.label, cur.label)
    # Static allocas split off the entry block go back to it.
    entry = new_blocks[0]
    moved = []
    for k in sorted(entry_chain):
        if k == 0:
            continue
        keep = []
        for ins in new_blocks[k].instrs:
            if ins.opcode == "alloca" and "%" not in ins.text.split("alloca", 1)[1]:
                moved.append(ins)
            else:
                keep.append(ins)
        new_blocks[k].instrs = keep
    if moved:
        entry.instrs[entry.first_insertion_index():entry.first_insertion_index()] = moved
    new_blocks.append(Block(label=fail_label, label_line=f"{fail_label}:",
                            instrs=[Instr("  " + fail_ret)]))
    fn.blocks = new_blocks
    fn.mark_modified()
    return True


def _insert_before_rets(fn: Function, text: str) -> None:
    for blk in fn.blocks:
        term = blk.terminator
        if term is not None and term.opcode == "ret":
            pos = blk.instrs.index(term)
            blk.instrs.insert(pos, Instr("  " + text))
    fn.mark_modified()


def _entry_insert_index(blk: Block) -> int:
    i = blk.first_insertion_index()
    while i < len(blk.instrs) and blk.instrs[i].opcode == "alloca":
        i += 1
    return i


def _hook_parallel_for(fn: Function, namer: _Namer) -> int:
    n = 0
    for blk in fn.blocks:
        i = 0
        while i < len(blk.instrs):
            ins = blk.instrs[i]
            if ins.opcode == "call" and ins.callee == PARALLEL_FOR:
                text = ins.text
                start = text.index(PARALLEL_FOR + "(") + len(PARALLEL_FOR) + 1
                end = text.rindex(")")
                args = _split_args(text[start:end])
                if len(args) >= 5 and args[4].split()[-1] == "null":
                    own = namer("owner")
                    args[4] = f"ptr %{own}"
                    blk.instrs[i] = Instr(text[:start] + ", ".join(args) + text[end:])
                    blk.instrs.insert(i, Instr(f"  %{own} = call ptr @ci_nb_par_begin()"))
                    blk.instrs.insert(i + 2, Instr(f"  call void @ci_nb_par_end(ptr %{own})"))
                    i += 2
                    n += 1
            i += 1
    if n:
        fn.mark_modified()
    return n


def _data_param(fn: Function) -> str | None:
    """The 4th parameter (``data``) of a gufunc ``void(ptr, ptr, ptr, ptr)``."""
    h = fn.header
    start = h.index(fn.name + "(") + len(fn.name) + 1
    depth, end = 1, start
    while depth and end < len(h):
        if h[end] == "(":
            depth += 1
        elif h[end] == ")":
            depth -= 1
        end += 1
    params = _split_args(h[start:end - 1])
    if len(params) != 4:
        return None
    last = params[3].split()[-1]
    return last if last.startswith("%") else None


def helper_definitions(arch: str | None = None, prof: int | None = None) -> str:
    """The probe helpers and the declarations of the native runtime (ci_numba_rt.c)."""
    arch = arch or platform.machine()
    if arch in ("x86_64", "AMD64", "amd64"):
        aty = "ptr addrspace(257)"
        addr = (f"  %o = load i64, ptr @ci_nb_tls_off, align 8\n"
                f"  %a = inttoptr i64 %o to {aty}\n")
    else:
        aty = "ptr"
        addr = ("  %o = load i64, ptr @ci_nb_tls_off, align 8\n"
                "  %tp = call ptr @llvm.thread.pointer.p0()\n"
                "  %a = getelementptr i8, ptr %tp, i64 %o\n")
    weights = "" if prof is None else f", !prof !{prof}"
    decl_tp = ("" if aty != "ptr"
               else "declare ptr @llvm.thread.pointer.p0() nounwind memory(none)\n")

    def probe(name: str, local: bool, status: bool) -> str:
        ret_t = "i32" if status else "void"
        params = "ptr %local, i64 %cost" if local else "i64 %cost"
        src = "ptr %local" if local else f"{aty} %a"
        body = f"define internal {ret_t} {name}({params}) alwaysinline nounwind {{\n"
        body += addr
        body += (f"  %b = load i64, {src}, align 8\n"
                 f"  %l = sub i64 %b, %cost\n"
                 f"  store i64 %l, {src}, align 8\n"
                 f"  %due = icmp slt i64 %l, 0\n"
                 f"  br i1 %due, label %slow, label %done{weights}\n\nslow:\n")
        if local:
            body += f"  store i64 %l, {aty} %a, align 8\n"
        body += f"  %r = call i32 @ci_nb_slow(i64 %cost, i32 {1 if status else 0})\n"
        if local:
            body += (f"  %fresh = load i64, {aty} %a, align 8\n"
                     f"  store i64 %fresh, ptr %local, align 8\n")
        body += "  br label %done\n\ndone:\n"
        if status:
            body += "  %s = phi i32 [ 0, %0 ], [ %r, %slow ]\n  ret i32 %s\n}\n"
        else:
            body += "  ret void\n}\n"
        return body

    # The entry block of each helper is unnamed (%0) when printed; name it explicitly.
    helpers = []
    for name, local in ((PROBE, False), (PROBE_LOCAL, True)):
        h = probe(name, local, False)
        helpers.append(h.replace("{\n", "{\nentry:\n", 1))
    helpers.append(
        f"define internal i1 {DEC}(i64 %cost) alwaysinline nounwind {{\nentry:\n" + addr +
        f"  %b = load i64, {aty} %a, align 8\n  %l = sub i64 %b, %cost\n"
        f"  store i64 %l, {aty} %a, align 8\n  %due = icmp slt i64 %l, 0\n  ret i1 %due\n}}\n")
    helpers.append(
        f"define internal i1 {DEC_LOCAL}(ptr %local, i64 %cost) alwaysinline nounwind {{\n"
        "entry:\n  %b = load i64, ptr %local, align 8\n  %l = sub i64 %b, %cost\n"
        "  store i64 %l, ptr %local, align 8\n  %due = icmp slt i64 %l, 0\n  ret i1 %due\n}\n")
    helpers.append(
        f"define internal i32 {SLOW}(i64 %cost) alwaysinline nounwind {{\nentry:\n"
        "  %r = call i32 @ci_nb_slow(i64 %cost, i32 1)\n  ret i32 %r\n}\n")
    helpers.append(
        f"define internal i32 {SLOW_LOCAL}(ptr %local, i64 %cost) alwaysinline nounwind {{\n"
        "entry:\n" + addr +
        f"  %l = load i64, ptr %local, align 8\n  store i64 %l, {aty} %a, align 8\n"
        "  %r = call i32 @ci_nb_slow(i64 %cost, i32 1)\n"
        f"  %fresh = load i64, {aty} %a, align 8\n  store i64 %fresh, ptr %local, align 8\n"
        "  ret i32 %r\n}\n")
    helpers.append(
        f"define internal void {FLUSH}(ptr %local) alwaysinline nounwind {{\nentry:\n" + addr +
        f"  %v = load i64, ptr %local, align 8\n  store i64 %v, {aty} %a, align 8\n"
        "  ret void\n}\n")
    helpers.append(
        f"define internal void {RELOAD}(ptr %local) alwaysinline nounwind {{\nentry:\n" + addr +
        f"  %v = load i64, {aty} %a, align 8\n  store i64 %v, ptr %local, align 8\n"
        "  ret void\n}\n")
    decls = (
        "@ci_nb_tls_off = external constant i64, align 8\n"
        "declare i32 @ci_nb_slow(i64, i32) cold nounwind\n"
        "declare void @ci_nb_enter(i32) nounwind\n"
        "declare void @ci_nb_leave() nounwind\n"
        "declare ptr @ci_nb_par_begin() nounwind\n"
        "declare void @ci_nb_par_end(ptr) nounwind\n"
        "declare void @ci_nb_worker_enter(ptr) nounwind\n"
        "declare void @ci_nb_worker_leave() nounwind\n" + decl_tp
    )
    return decls + "\n" + "\n".join(helpers)


def finish(text: str, stats: dict | None = None, arch: str | None = None) -> str:
    """Post-pass rewriting (see the module docstring). ``stats`` receives counters."""
    stats = {} if stats is None else stats
    module: Module = parse_module(text, "<numba>")
    namer = _Namer()
    fns = module.functions
    status_names = {f.name for f in fns if is_status_header(f.header)}
    parallel = f"call void {PARALLEL_FOR}(" in text
    prof = module.max_metadata_id() + 1  # branch weights: the slow path is cold
    for fn in fns:
        bare = _bare(fn.name)
        if fn.name in status_names:
            if _rewrite_probes(fn, "ret i32 -1", namer, stats, prof):
                stats["failing_functions"] = stats.get("failing_functions", 0) + 1
            # -1 may now come from this function or from any callee it propagates.
            header = _strip_range_for(fn.header, status_names)
            if header != fn.header:
                fn.header = header
                fn.mark_modified()
        elif bare.startswith(GUFUNC_PREFIX):
            data = _data_param(fn)
            _rewrite_probes(fn, "ret void", namer, stats, prof)
            if data is not None:
                blk = fn.entry
                blk.instrs.insert(_entry_insert_index(blk),
                                  Instr(f"  call void @ci_nb_worker_enter(ptr {data})"))
                _insert_before_rets(fn, "call void @ci_nb_worker_leave()")
                stats["gufuncs"] = stats.get("gufuncs", 0) + 1
        elif bare.startswith(CPYTHON_PREFIX):
            nogil = any(ins.callee == "@PyEval_SaveThread" for b in fn.blocks for ins in b.instrs)
            flags = (1 if nogil else 0) | (2 if parallel else 0)
            blk = fn.entry
            blk.instrs.insert(_entry_insert_index(blk),
                              Instr(f"  call void @ci_nb_enter(i32 {flags})"))
            _insert_before_rets(fn, "call void @ci_nb_leave()")
            stats["wrappers"] = stats.get("wrappers", 0) + 1
        if parallel:
            stats["parallel_for"] = stats.get("parallel_for", 0) + _hook_parallel_for(fn, namer)
    # Calls to status functions must not promise a range that excludes -1.
    for fn in fns:
        changed = False
        for blk in fn.blocks:
            for i, ins in enumerate(blk.instrs):
                if ins.opcode == "call" and "range(i32" in ins.text and ins.callee in status_names:
                    blk.instrs[i] = Instr(_strip_range_for(ins.text, status_names))
                    changed = True
        if changed:
            fn.mark_modified()
    module.append_toplevel(helper_definitions(arch, prof))
    module.append_toplevel(f'!{prof} = !{{!"branch_weights", i32 1, i32 1048575}}')
    return module.render()
