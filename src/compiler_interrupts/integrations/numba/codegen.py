"""The codegen hook: a JIT code library whose final module gets probes after Numba's O3.

``CILibrary`` overrides ``_optimize_final_module`` (run once per library, after all dependencies
are linked in): status opaque -> Numba's O3 -> keep a clean copy for callers to link -> the CI pass
-> Numba-specific rewriting (:mod:`.transform`) -> inline the probe helpers and clean up.

Callers link the *uninstrumented* optimized module (``_get_module_for_linking``), so code that is
inlined across functions is instrumented once, in the module that finally runs it.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass

import llvmlite.binding as ll
from numba.core import codegen as nb_codegen

from ...pipeline import PassOptions, instrument_text
from . import transform

log = logging.getLogger(__name__)

#: Bump when generated code changes in a way the cache key would not see.
CODEGEN_VERSION = "2"

#: The pass's probe-free cost bound for Numba code. Larger than the pass's default (200, tuned for
#: microsecond-scale handlers in native code): Numba users need millisecond-scale responses, and
#: a larger bound lets the pass run short vectorized loops in longer probe-free chunks.
DEFAULT_BOUND = 1000


@dataclass(frozen=True)
class CodegenConfig:
    """What changes the generated code (part of the cache key)."""

    bound: int = DEFAULT_BOUND
    design: str = "ci"

    def key(self) -> tuple:
        return ("ci-numba", CODEGEN_VERSION, self.design, self.bound)


class CIInstrumentationWarning(UserWarning):
    """A module could not be instrumented; it runs without probes."""


#: Statistics of the last instrumented modules (name -> dict), for tests and debugging.
LAST_STATS: dict[str, dict] = {}
_LAST_STATS_MAX = 64


def _post_pass(module, tm) -> None:
    pto = ll.create_pipeline_tuning_options(speed_level=3)
    pb = ll.create_pass_builder(tm, pto)
    mpm = ll.create_new_module_pass_manager()
    mpm.add_always_inliner_pass()
    mpm.add_sroa_pass()
    mpm.add_instruction_combine_pass()
    mpm.add_simplify_cfg_pass()
    mpm.add_global_dead_code_eliminate_pass()
    mpm.run(module, pb)


class CILibrary(nb_codegen.JITCodeLibrary):
    """A Numba JIT code library that instruments its final module with compiler interrupts."""

    ci_config: CodegenConfig = CodegenConfig()

    def __init__(self, codegen, name, config: CodegenConfig | None = None):
        super().__init__(codegen, name)
        if config is not None:
            self.ci_config = config
        self._ci_clean = None
        self.ci_stats: dict = {}

    # -------------------------------------------------------------------------- hook

    def _optimize_final_module(self):
        t0 = time.perf_counter()
        mod = self._final_module
        name = mod.name
        try:
            text, weakened = transform.pre_o3(str(mod))
            new = ll.parse_assembly(text)
            new.name = name
            new.verify()
        except Exception as e:  # pragma: no cover - defensive: run the code without probes
            warnings.warn(f"compiler_interrupts.numba: {self.name} runs without compiler "
                          f"interrupts (cannot prepare it: {type(e).__name__}: {e})",
                          CIInstrumentationWarning, stacklevel=2)
            super()._optimize_final_module()
            self._ci_clean = self._final_module
            return
        self._final_module = new
        super()._optimize_final_module()
        mod = self._final_module
        for fname in weakened:
            try:
                mod.get_function(fname[1:].strip('"')).linkage = "external"
            except NameError:
                pass  # inlined everywhere and removed (cannot happen for weak_odr)
        self._ci_clean = mod
        t1 = time.perf_counter()
        try:
            instrumented = self._instrument(str(mod), {n for n in weakened})
        except Exception as e:  # never break the user's program: run unprobed
            warnings.warn(f"compiler_interrupts.numba: {self.name} runs without compiler "
                          f"interrupts ({type(e).__name__}: {e})", CIInstrumentationWarning,
                          stacklevel=2)
            log.debug("instrumentation failed", exc_info=True)
            self._final_module = mod.clone()
            return
        self._final_module = instrumented
        self.ci_stats["seconds_pass"] = time.perf_counter() - t1
        self.ci_stats["seconds_o3"] = t1 - t0
        LAST_STATS.pop(self.name, None)
        LAST_STATS[self.name] = self.ci_stats
        while len(LAST_STATS) > _LAST_STATS_MAX:
            LAST_STATS.pop(next(iter(LAST_STATS)))

    def _instrument(self, text: str, keep: set[str]):
        cfg = self.ci_config
        text = transform.prepare_for_pass(text, keep)
        res = instrument_text(
            text,
            PassOptions(design=cfg.design, bound=cfg.bound, opt_level=3,
                        emit_runtime_interface=False, single_probe=False),
            filename=self.name,
        )
        stats = self.ci_stats
        stats["probes"] = res.stats.probes
        stats["instrumented"] = res.stats.instrumented
        stats.update(res.stats.extra)
        out = transform.finish(res.text, stats)
        mod = ll.parse_assembly(out)
        mod.name = self._final_module.name
        mod.verify()
        _post_pass(mod, self._codegen._tm)
        mod.verify()
        return mod

    # -------------------------------------------------------------------------- linking

    def _get_module_for_linking(self):
        """Callers link the optimized module *without* probes; they instrument what they run."""
        self._ensure_finalized()
        if self._shared_module is not None:
            return self._shared_module
        if self._ci_clean is None:
            return super()._get_module_for_linking()
        mod = self._ci_clean
        to_fix = [fn.name for fn in mod.functions
                  if not fn.is_declaration and fn.linkage == ll.Linkage.external]
        if to_fix:
            mod = mod.clone()
            for name in to_fix:
                mod.get_function(name).linkage = "linkonce_odr"
        self._shared_module = mod
        return mod
