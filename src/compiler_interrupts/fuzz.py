"""Differential testing of the instrumentation with Csmith-generated programs.

``python -m compiler_interrupts fuzz --count N --seed S`` generates ``N`` random C programs with
Csmith (program ``i`` uses the Csmith seed ``S + i``, so a batch is reproducible) and, for each:

* builds a *reference* with plain clang and with ``ci-cc --ci-design=none`` (the same pipeline
  as the probe designs, without probes) at ``-O2``; programs whose plain build fails, crashes,
  exits non-zero or times out are *discarded* (Csmith occasionally emits programs that loop for
  ever or overflow the stack), they are not failures;
* builds every probe *variant* (``naive``, ``ci`` with each ``--ci-bound``) with
  ``--ci-check`` (the static probe checker must accept the module) and
  ``--ci-autostart=ir0`` (the counting handler is linked but only armed when the environment
  sets ``CI_AUTOSTART_IR``/``CI_AUTOSTART_CYCLES``);
* runs every variant with no handler, with a handler every 50 IR instructions (so handlers fire
  inside hot loops) and, for one variant, in cycles mode with a tiny period, and compares
  standard output and exit status with the reference under a timeout;
* repeats the reference + one ``ci`` variant at ``-O0`` or ``-O1`` for every other program, and
  builds a few programs as C++ (``--lang-cpp``, ``ci-c++``).

Every disagreement is a *finding*: ``mismatch`` (different output or exit status), ``crash``
(killed by a signal), ``hang`` (timed out where the reference did not), ``build`` (an
instrumented build failed where ``none`` built, or ``none`` failed where clang built),
``verifier`` (ci-cc had to compile a module without probes because LLVM rejected it) and
``check`` (the probe checker rejected a module). Findings are kept (``--keep DIR``) with a
``finding.json`` and a ``repro.sh``; ``--reduce`` shrinks them with ``creduce``, using this
module's ``interesting`` sub-mode as the interestingness test (with a sanitizer-checked plain
build so that the reduced program stays free of undefined behaviour).

The summary line is ``fuzz: N programs, M variants, K mismatches`` where ``K`` counts findings of
every kind; details follow on the same line.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

#: Csmith options of the default batch: small programs that build and run in well under a
#: second, so that a CI batch of 50 programs fits in about a minute on two cores.
DEFAULT_CSMITH_OPTIONS = ("--max-funcs", "4", "--no-packed-struct", "--max-block-depth", "4",
                          "--max-expr-complexity", "6")

#: Environment variables that change what ci-cc or the runtime does; removed from every command.
SCRUB_ENV = ("CI_DESIGN", "CI_FLAGS", "CI_VERBOSE", "CI_STATS", "CI_AUTOSTART_CYCLES",
             "CI_AUTOSTART_IR", "CI_INTERVAL_LOG", "CI_CC_DEPTH")

FINDING_KINDS = ("mismatch", "crash", "hang", "build", "verifier", "check")

#: --ci-bound given to designs without a bound, so that --ci-check checks only the cycles.
UNBOUNDED_CHECK = 10000

HANDLER_IR = 50          # CI_AUTOSTART_IR for the handler runs
HANDLER_CYCLES = 2000    # CI_AUTOSTART_CYCLES for the cycles-mode run
RETRY_IR = 20000         # CI_AUTOSTART_IR of the retry after a handler run timed out


class FuzzSetupError(Exception):
    """Csmith, its headers or clang are missing."""


# ------------------------------------------------------------------------------------------
# Tools


def find_csmith() -> str | None:
    return shutil.which(os.environ.get("CSMITH", "csmith"))


def csmith_include_dir() -> Path | None:
    """Directory holding ``csmith.h`` (Debian: ``libcsmith-dev`` puts it in
    ``/usr/include/csmith``; a source install in ``$CSMITH_HOME/include``)."""
    cands = []
    if os.environ.get("CSMITH_HOME"):
        home = Path(os.environ["CSMITH_HOME"])
        cands += [home / "include", home / "runtime", home / "include" / "csmith"]
    exe = find_csmith()
    if exe:
        prefix = Path(exe).resolve().parent.parent
        cands += [prefix / "include" / "csmith", prefix / "include"]
        cands += sorted(prefix.glob("include/csmith-*"))
    cands += [Path("/usr/include/csmith"), Path("/usr/local/include/csmith")]
    cands += sorted(Path("/usr/include").glob("csmith-*"))
    cands += sorted(Path("/usr/local/include").glob("csmith-*"))
    for c in cands:
        if (c / "csmith.h").is_file():
            return c
    return None


def setup_problem() -> str | None:
    """Why fuzzing cannot run here (None when it can)."""
    if find_csmith() is None:
        return "csmith is not installed (apt-get install -y csmith libcsmith-dev)"
    if csmith_include_dir() is None:
        return "csmith.h not found (apt-get install -y libcsmith-dev, or set CSMITH_HOME)"
    try:
        from .toolchain.clang import find_clang

        find_clang(False)
    except Exception as exc:  # CIError
        return f"no clang: {exc}"
    return None


def driver_command(cxx: bool) -> list[str]:
    """``ci-cc``/``ci-c++`` when installed on PATH, else ``python -m compiler_interrupts``."""
    name = "ci-c++" if cxx else "ci-cc"
    exe = shutil.which(name)
    if exe:
        return [exe]
    return [sys.executable, "-m", "compiler_interrupts", "c++" if cxx else "cc"]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SCRUB_ENV}
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


# ------------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class Variant:
    """One instrumented build of a program."""

    design: str
    opt: str = "O2"
    bound: int | None = None

    @property
    def name(self) -> str:
        b = f"-b{self.bound}" if self.bound is not None else ""
        return f"{self.design}{b}-{self.opt}"

    def flags(self) -> list[str]:
        f = [f"-{self.opt}", f"--ci-design={self.design}"]
        if self.bound is not None:
            f.append(f"--ci-bound={self.bound}")
        if self.design != "none":
            f += ["--ci-check", "--ci-autostart=ir0"]
            if self.bound is None and self.design != "ci":
                # Designs without a cost bound (naive) are checked for "every cycle passes a
                # probe" only: the checker would otherwise apply the ci design's default bound.
                f.append(f"--ci-bound={UNBOUNDED_CHECK}")
        return f


@dataclass
class Finding:
    seed: int
    kind: str
    variant: str
    mode: str        # "build", "plain" (no handler), "ir50", "cycles2000"
    detail: str
    lang: str = "c"


@dataclass
class ProgramResult:
    seed: int
    lang: str = "c"
    status: str = "ok"   # ok | discarded | generator-failed
    reason: str = ""
    variants: int = 0
    runs: int = 0
    handler_calls: int = 0
    slow: int = 0        # handler runs that timed out and passed with a coarser interval
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Config:
    count: int = 50
    seed: int = 1
    designs: tuple[str, ...] = ("naive", "ci")
    bounds: tuple[int, ...] = (50, 200, 1000)
    jobs: int = 2
    keep: Path | None = None
    reduce: bool = False
    csmith_options: tuple[str, ...] = DEFAULT_CSMITH_OPTIONS
    ref_timeout: float = 2.0     # a reference slower than this is discarded
    extra_levels: bool = True    # -O0/-O1 for every other program
    cpp_every: int = 10          # every Nth program is generated as C++ (0: never)
    workdir: Path | None = None
    verbose: bool = False


# ------------------------------------------------------------------------------------------
# Running things


@dataclass
class RunOutcome:
    rc: int | None       # None: timed out
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.rc is None

    def describe(self) -> str:
        if self.rc is None:
            return "timed out"
        if self.rc < 0:
            try:
                return f"killed by {signal.Signals(-self.rc).name}"
            except ValueError:
                return f"killed by signal {-self.rc}"
        return f"exit {self.rc}"


def run_cmd(cmd: list[str], *, timeout: float, env: dict[str, str] | None = None,
            cwd: str | Path | None = None) -> RunOutcome:
    """Run with a timeout, killing the whole process group on expiry."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = proc.communicate()
        rc = None
    return RunOutcome(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
                      time.monotonic() - t0)


_STATS_RE = re.compile(r"^ci: thread \d+ handler_calls=(\d+)", re.M)


def handler_calls(stderr: str) -> int:
    return sum(int(m) for m in _STATS_RE.findall(stderr))


def strip_stats(stderr: str) -> str:
    return _STATS_RE.sub("", stderr)


# ------------------------------------------------------------------------------------------
# One program


class Tester:
    """Builds and runs one program in its own directory."""

    def __init__(self, cfg: Config, src: Path, lang: str):
        from .toolchain.clang import find_clang

        self.cfg = cfg
        self.src = src
        self.dir = src.parent
        self.lang = lang
        cxx = lang == "c++"
        self.clang = find_clang(cxx)
        self.driver = driver_command(cxx)
        self.inc = str(csmith_include_dir())
        self.common = ["-w", "-I", self.inc]
        if cxx:  # csmith writes C++03; newer standards reject its narrowing initialisers
            self.common.append("-std=c++03")
        self.env = clean_env()

    def build_plain(self, opt: str, out: Path, extra: list[str] | None = None) -> RunOutcome:
        return run_cmd([self.clang, f"-{opt}", *self.common, *(extra or []), str(self.src),
                        "-o", str(out)], timeout=120, env=self.env)

    def build_variant(self, v: Variant, out: Path) -> RunOutcome:
        return run_cmd([*self.driver, *v.flags(), *self.common, str(self.src), "-o", str(out)],
                       timeout=300, env=self.env)

    def run(self, exe: Path, timeout: float, extra_env: dict[str, str] | None = None
            ) -> RunOutcome:
        env = dict(self.env)
        if extra_env:
            env.update(extra_env)
        return run_cmd([str(exe)], timeout=timeout, env=env, cwd=self.dir)


def _same(ref: RunOutcome, got: RunOutcome) -> bool:
    return ref.rc == got.rc and ref.stdout == got.stdout


def _diff_detail(ref: RunOutcome, got: RunOutcome) -> str:
    def short(s: str) -> str:
        s = s.strip()
        return s if len(s) < 200 else s[:90] + " ... " + s[-90:]

    return (f"reference {ref.describe()} stdout={short(ref.stdout)!r}; "
            f"variant {got.describe()} stdout={short(got.stdout)!r}")


def variants_for(cfg: Config, index: int) -> list[tuple[str, list[Variant]]]:
    """(opt level, variants) for program ``index``: all designs/bounds at -O2; a ``ci`` (or the
    first design) variant at -O0 or -O1 for every other program."""
    levels: list[tuple[str, list[Variant]]] = []
    o2: list[Variant] = []
    for d in cfg.designs:
        if d == "ci":
            o2 += [Variant("ci", "O2", b) for b in (cfg.bounds or (None,))]
        else:
            o2.append(Variant(d, "O2"))
    levels.append(("O2", o2))
    if cfg.extra_levels and index % 2 == 1:
        opt = "O0" if index % 4 == 1 else "O1"
        d = "ci" if "ci" in cfg.designs else cfg.designs[0]
        bound = (sorted(cfg.bounds)[len(cfg.bounds) // 2] if cfg.bounds else None) \
            if d == "ci" else None
        levels.append((opt, [Variant(d, opt, bound)]))
    return levels


def generate(cfg: Config, seed: int, lang: str, dest: Path) -> RunOutcome:
    opts = list(cfg.csmith_options)
    if lang == "c++":
        opts.append("--lang-cpp")
    return run_cmd([find_csmith() or "csmith", "--seed", str(seed), *opts, "-o", str(dest)],
                   timeout=60, env=clean_env())


def lang_for(cfg: Config, index: int) -> str:
    return "c++" if cfg.cpp_every and index % cfg.cpp_every == cfg.cpp_every - 1 else "c"


def check_program(cfg: Config, index: int, root: Path) -> ProgramResult:
    seed = cfg.seed + index
    lang = lang_for(cfg, index)
    res = ProgramResult(seed=seed, lang=lang)
    t0 = time.monotonic()
    d = root / f"seed-{seed}"
    d.mkdir(parents=True, exist_ok=True)
    src = d / ("prog.cpp" if lang == "c++" else "prog.c")
    gen = generate(cfg, seed, lang, src)
    if gen.rc != 0 or not src.exists():
        res.status, res.reason = "generator-failed", f"csmith {gen.describe()}: {gen.stderr[-200:]}"
        return res
    try:
        _test_levels(cfg, index, Tester(cfg, src, lang), res)
    finally:
        res.seconds = time.monotonic() - t0
    if res.findings and cfg.keep is not None:
        keep_program(cfg, res, src)
    if not cfg.verbose:
        shutil.rmtree(d, ignore_errors=True)
    return res


def _test_levels(cfg: Config, index: int, t: Tester, res: ProgramResult) -> None:
    tested_any = False
    for opt, variants in variants_for(cfg, index):
        plain_exe = t.dir / f"plain-{opt}"
        b = t.build_plain(opt, plain_exe)
        if b.rc != 0:
            if opt == "O2":
                res.status, res.reason = "discarded", f"clang -{opt} failed to build it"
                return
            continue
        ref = t.run(plain_exe, cfg.ref_timeout)
        if ref.rc != 0:
            if opt == "O2":
                res.status = "discarded"
                res.reason = f"plain -{opt} {ref.describe()}"
                return
            continue
        timeout = max(20 * ref.seconds + 5.0, 2 * cfg.ref_timeout)
        tested_any = True
        # The `none` pipeline must agree with plain clang.
        none = Variant("none", opt)
        none_exe = t.dir / f"{none.name}"
        nb = t.build_variant(none, none_exe)
        if nb.rc != 0:
            res.findings.append(Finding(res.seed, "build", none.name, "build",
                                        f"ci-cc failed where clang built: {nb.stderr[-600:]}",
                                        res.lang))
            continue
        _check_build_warnings(res, none, nb)
        out = t.run(none_exe, timeout)
        res.runs += 1
        _compare(res, none, "plain", ref, out)
        for v in variants:
            exe = t.dir / v.name
            vb = t.build_variant(v, exe)
            res.variants += 1
            if vb.rc != 0:
                kind = "check" if "probe check failed" in vb.stderr else "build"
                res.findings.append(Finding(res.seed, kind, v.name, "build",
                                            vb.stderr[-1500:], res.lang))
                continue
            _check_build_warnings(res, v, vb)
            modes: list[tuple[str, dict[str, str]]] = [
                ("plain", {}),
                (f"ir{HANDLER_IR}", {"CI_AUTOSTART_IR": str(HANDLER_IR), "CI_STATS": "1"}),
            ]
            if v.design == "ci" and v.bound == (sorted(cfg.bounds)[len(cfg.bounds) // 2]
                                                if cfg.bounds else None):
                modes.append((f"cycles{HANDLER_CYCLES}",
                              {"CI_AUTOSTART_CYCLES": str(HANDLER_CYCLES), "CI_STATS": "1"}))
            for mode, env in modes:
                got = t.run(exe, timeout, env)
                res.runs += 1
                if env:
                    res.handler_calls += handler_calls(got.stderr)
                if got.timed_out and env:
                    # A tiny interval in a program that runs billions of IR instructions is
                    # slow, not hung: retry with a coarser interval; only a timeout there too
                    # (or a different output) is a finding.
                    mode = f"ir{RETRY_IR}"
                    got = t.run(exe, 3 * timeout, {"CI_AUTOSTART_IR": str(RETRY_IR),
                                                   "CI_STATS": "1"})
                    res.runs += 1
                    res.slow += 1
                    res.handler_calls += handler_calls(got.stderr)
                _compare(res, v, mode, ref, got)
    if not tested_any:
        res.status, res.reason = "discarded", "no usable reference"


def _check_build_warnings(res: ProgramResult, v: Variant, b: RunOutcome) -> None:
    if "rejected by LLVM" in b.stderr:
        res.findings.append(Finding(res.seed, "verifier", v.name, "build", b.stderr[-1500:],
                                    res.lang))


def _compare(res: ProgramResult, v: Variant, mode: str, ref: RunOutcome, got: RunOutcome
             ) -> None:
    if _same(ref, got):
        return
    if got.timed_out:
        kind = "hang"
    elif got.rc is not None and got.rc < 0:
        kind = "crash"
    else:
        kind = "mismatch"
    detail = _diff_detail(ref, got)
    err = strip_stats(got.stderr).strip()
    if err:
        detail += f"; stderr={err[-400:]!r}"
    res.findings.append(Finding(res.seed, kind, v.name, mode, detail, res.lang))


# ------------------------------------------------------------------------------------------
# Keeping and reducing findings


def _variant_from_name(name: str) -> Variant:
    m = re.fullmatch(r"(\w+?)(?:-b(\d+))?-(O\d|Os|Oz)", name)
    if not m:
        raise ValueError(f"bad variant name {name!r}")
    return Variant(m.group(1), m.group(3), int(m.group(2)) if m.group(2) else None)


def _mode_env(mode: str) -> dict[str, str]:
    if mode.startswith("ir"):
        return {"CI_AUTOSTART_IR": mode[2:], "CI_STATS": "1"}
    if mode.startswith("cycles"):
        return {"CI_AUTOSTART_CYCLES": mode[6:], "CI_STATS": "1"}
    return {}


def keep_program(cfg: Config, res: ProgramResult, src: Path) -> None:
    assert cfg.keep is not None
    dest = cfg.keep / f"{'cpp' if res.lang == 'c++' else 'c'}-seed-{res.seed}"
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dest / src.name)
    findings = [asdict(f) for f in res.findings]
    (dest / "finding.json").write_text(json.dumps(
        {"seed": res.seed, "lang": res.lang, "csmith_options": list(cfg.csmith_options),
         "findings": findings}, indent=2) + "\n")
    f0 = res.findings[0]
    (dest / "repro.sh").write_text(repro_script(src.name, f0))
    (dest / "repro.sh").chmod(0o755)
    if cfg.reduce:
        reduce_program(dest / src.name, f0)


def repro_script(srcname: str, f: Finding) -> str:
    v = _variant_from_name(f.variant)
    drv = "ci-c++" if f.lang == "c++" else "ci-cc"
    cc = "clang++ -std=c++03" if f.lang == "c++" else "clang"
    env = " ".join(f"{k}={v}" for k, v in _mode_env(f.mode).items())
    std = " -std=c++03" if f.lang == "c++" else ""
    inc = csmith_include_dir() or "/usr/include/csmith"
    return (f"#!/bin/sh\n# {f.kind} in {f.variant} ({f.mode}): {f.detail[:300]}\n"
            f"set -x\ncd \"$(dirname \"$0\")\"\n"
            f"{cc} -{v.opt} -w -I{inc} {srcname} -o ref && ./ref; echo \"exit $?\"\n"
            f"{drv} {' '.join(shlex.quote(x) for x in v.flags())}{std} -w -I{inc} {srcname} -o var "
            f"&& {env} ./var; echo \"exit $?\"\n")


def is_interesting(src: Path, finding: dict, timeout: float = 5.0) -> bool:
    """The interestingness test of ``--reduce``: the program is UB-free as far as ASan/UBSan can
    tell (plain -O0 sanitized build runs cleanly and prints the same as plain at the variant's
    level), and the variant still shows the same kind of finding."""
    f = Finding(**finding)
    lang = f.lang
    cfg = Config()
    t = Tester(cfg, src, lang)
    with tempfile.TemporaryDirectory(prefix="ci-fuzz-int-", dir=src.parent) as td:
        tdir = Path(td)
        san = tdir / "san"
        b = t.build_plain("O0", san, ["-fsanitize=address,undefined",
                                      "-fno-sanitize-recover=all", "-g0"])
        if b.rc != 0:
            return False
        s = t.run(san, timeout)
        if s.rc != 0:
            return False
        v = _variant_from_name(f.variant)
        ref_exe = tdir / "ref"
        if t.build_plain(v.opt, ref_exe).rc != 0:
            return False
        ref = t.run(ref_exe, timeout)
        if ref.rc != 0 or ref.stdout != s.stdout:
            return False
        exe = tdir / "var"
        vb = t.build_variant(v, exe)
        if f.kind in ("build", "check", "verifier"):
            if f.kind == "verifier":
                return "rejected by LLVM" in vb.stderr
            if f.kind == "check":
                return vb.rc != 0 and "probe check failed" in vb.stderr
            return vb.rc != 0
        if vb.rc != 0:
            return False
        got = t.run(exe, max(10 * ref.seconds + 5.0, timeout), _mode_env(f.mode))
        if f.kind == "hang":
            return got.timed_out
        if f.kind == "crash":
            return got.rc is not None and got.rc < 0
        return not _same(ref, got) and not got.timed_out and (got.rc or 0) >= 0


def reduce_program(src: Path, f: Finding) -> bool:
    """Shrink ``src`` in place with creduce (keeps ``<src>.orig``). False when creduce is
    missing or fails."""
    creduce = shutil.which("creduce")
    if creduce is None:
        return False
    shutil.copy(src, src.with_suffix(src.suffix + ".orig"))
    spec = src.parent / "interesting.json"
    spec.write_text(json.dumps(asdict(f)))
    script = src.parent / "interesting.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"exec {shlex.quote(sys.executable)} -m compiler_interrupts.fuzz --interesting "
        f"{shlex.quote(str(spec))} {shlex.quote(src.name)}\n")
    script.chmod(0o755)
    with tempfile.TemporaryDirectory(prefix="ci-creduce-") as td:
        work = Path(td) / src.name
        shutil.copy(src, work)
        r = run_cmd([creduce, "--n", "2", "--timeout", "120", str(script), src.name],
                    timeout=3600, cwd=td, env=clean_env())
        if r.rc == 0 and work.exists():
            shutil.copy(work, src)
            return True
    return False


# ------------------------------------------------------------------------------------------
# A batch


@dataclass
class Summary:
    programs: int = 0
    discarded: int = 0
    variants: int = 0
    runs: int = 0
    handler_calls: int = 0
    slow: int = 0
    findings: list[Finding] = field(default_factory=list)
    discard_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def mismatches(self) -> int:
        return len(self.findings)

    def line(self) -> str:
        kinds = ", ".join(f"{sum(f.kind == k for f in self.findings)} {k}" for k in FINDING_KINDS)
        return (f"fuzz: {self.programs} programs, {self.variants} variants, "
                f"{self.mismatches} mismatches ({kinds}); {self.discarded} programs discarded, "
                f"{self.runs} runs ({self.slow} retried with a coarser interval), "
                f"{self.handler_calls} handler calls, {self.seconds:.0f} s")

    def add(self, r: ProgramResult) -> None:
        self.programs += 1
        if r.status != "ok":
            self.discarded += 1
            key = re.sub(r"\d+", "N", r.reason.split(":")[0])[:60]
            self.discard_reasons[key] = self.discard_reasons.get(key, 0) + 1
        self.variants += r.variants
        self.runs += r.runs
        self.handler_calls += r.handler_calls
        self.slow += r.slow
        self.findings += r.findings


def prewarm_runtime() -> None:
    """Build the runtime once before parallel jobs start (the cache is race-free, but a cold
    cache would otherwise be built by every job at the same time)."""
    with tempfile.TemporaryDirectory(prefix="ci-fuzz-warm-") as td:
        src = Path(td) / "w.c"
        src.write_text("int main(void) { return 0; }\n")
        run_cmd([*driver_command(False), "--ci-autostart=ir0", str(src), "-o",
                 str(Path(td) / "w")], timeout=600, env=clean_env())


def run_batch(cfg: Config, progress=None) -> Summary:
    problem = setup_problem()
    if problem:
        raise FuzzSetupError(problem)
    t0 = time.monotonic()
    summary = Summary()
    prewarm_runtime()
    own_root = cfg.workdir is None
    root = Path(tempfile.mkdtemp(prefix="ci-fuzz-")) if own_root else cfg.workdir
    assert root is not None
    root.mkdir(parents=True, exist_ok=True)
    try:
        with cf.ThreadPoolExecutor(max_workers=max(1, cfg.jobs)) as pool:
            futs = [pool.submit(check_program, cfg, i, root) for i in range(cfg.count)]
            for fut in cf.as_completed(futs):
                r = fut.result()
                summary.add(r)
                if progress is not None:
                    progress(r, summary)
    finally:
        if own_root and not cfg.verbose:
            shutil.rmtree(root, ignore_errors=True)
    summary.seconds = time.monotonic() - t0
    return summary


def _progress(r: ProgramResult, s: Summary) -> None:
    status = r.status if r.status != "ok" else f"{r.variants} variants"
    msg = f"[{s.programs}] seed {r.seed} ({r.lang}): {status}"
    if r.reason:
        msg += f" ({r.reason})"
    for f in r.findings:
        msg += f"\n  FINDING {f.kind} {f.variant} [{f.mode}]: {f.detail[:500]}"
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------
# Command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, default=50, help="number of programs (default 50)")
    p.add_argument("--seed", type=int, default=1,
                   help="Csmith seed of the first program; program i uses seed+i (default 1)")
    p.add_argument("--designs", default="naive,ci",
                   help="comma-separated probe designs to compare with none (default naive,ci)")
    p.add_argument("--bounds", default="50,200,1000",
                   help="comma-separated --ci-bound values of the ci design (default 50,200,1000)")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                   help="programs tested in parallel (default: number of CPUs)")
    p.add_argument("--keep", metavar="DIR", help="keep programs with findings under DIR")
    p.add_argument("--reduce", action="store_true",
                   help="reduce kept programs with creduce (needs --keep)")
    p.add_argument("--csmith-options", default=" ".join(DEFAULT_CSMITH_OPTIONS),
                   help="options passed to csmith (default: %(default)s)")
    p.add_argument("--ref-timeout", type=float, default=2.0,
                   help="seconds; programs whose plain build runs longer are discarded (2)")
    p.add_argument("--no-extra-levels", action="store_true", help="only -O2")
    p.add_argument("--cpp-every", type=int, default=10,
                   help="every Nth program is C++ (csmith --lang-cpp); 0: never (default 10)")
    p.add_argument("--json", metavar="FILE", help="write the summary and findings as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="only the summary line")


def config_from_args(ns: argparse.Namespace) -> Config:
    designs = tuple(d for d in ns.designs.split(",") if d)
    from . import designs as designs_mod

    for d in designs:
        designs_mod.get_design(d)
    bounds = tuple(int(b) for b in ns.bounds.split(",") if b)
    if ns.reduce and not ns.keep:
        raise SystemExit("fuzz: --reduce needs --keep DIR")
    return Config(count=ns.count, seed=ns.seed, designs=designs, bounds=bounds, jobs=ns.jobs,
                  keep=Path(ns.keep) if ns.keep else None, reduce=ns.reduce,
                  csmith_options=tuple(shlex.split(ns.csmith_options)),
                  ref_timeout=ns.ref_timeout, extra_levels=not ns.no_extra_levels,
                  cpp_every=ns.cpp_every)


def cmd_fuzz(ns: argparse.Namespace) -> int:
    try:
        cfg = config_from_args(ns)
    except Exception as exc:  # unknown design, bad number
        print(f"fuzz: error: {exc}", file=sys.stderr)
        return 2
    try:
        summary = run_batch(cfg, None if ns.quiet else _progress)
    except FuzzSetupError as exc:
        print(f"fuzz: error: {exc}", file=sys.stderr)
        return 2
    print(summary.line())
    if summary.discard_reasons and not ns.quiet:
        print("fuzz: discarded: " + ", ".join(f"{n} {k}" for k, n in
                                              sorted(summary.discard_reasons.items())))
    for f in summary.findings:
        print(f"fuzz: FINDING seed={f.seed} lang={f.lang} {f.kind} {f.variant} [{f.mode}]: "
              f"{f.detail[:300]}")
    if ns.json:
        Path(ns.json).write_text(json.dumps({
            "config": {"count": cfg.count, "seed": cfg.seed, "designs": cfg.designs,
                       "bounds": cfg.bounds, "csmith_options": cfg.csmith_options},
            "programs": summary.programs, "discarded": summary.discarded,
            "variants": summary.variants, "runs": summary.runs,
            "handler_calls": summary.handler_calls, "slow": summary.slow, "mismatches": summary.mismatches,
            "discard_reasons": summary.discard_reasons, "seconds": summary.seconds,
            "findings": [asdict(f) for f in summary.findings]}, indent=2) + "\n")
    return 1 if summary.findings else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--interesting"]:
        # creduce interestingness test: --interesting SPEC.json SRC
        spec = json.loads(Path(argv[1]).read_text())
        return 0 if is_interesting(Path(argv[2]).resolve(), spec) else 1
    p = argparse.ArgumentParser(prog="python -m compiler_interrupts fuzz",
                                description=__doc__.split("\n\n")[0])
    add_arguments(p)
    return cmd_fuzz(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
