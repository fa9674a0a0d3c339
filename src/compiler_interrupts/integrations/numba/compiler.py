"""The Numba side of the hook: pipeline class, dispatcher, cache and the ``njit`` drop-in."""

from __future__ import annotations

import ctypes
import hashlib
import inspect
import threading
from types import MappingProxyType

from numba.core import compiler as nb_compiler
from numba.core import config as nb_config
from numba.core import sigutils
from numba.core.caching import CompileResultCacheImpl, FunctionCache
from numba.core.compiler_machinery import LoweringPass, register_pass
from numba.core.registry import CPUDispatcher
from numba.core.typed_passes import BaseNativeLowering

from . import native as _nat
from .codegen import CILibrary, CodegenConfig

# ----------------------------------------------------------------------------------- pipeline


@register_pass(mutates_CFG=False, analysis_only=False)
class CIInstallLibrary(LoweringPass):
    """Supply a :class:`CILibrary` to the lowering pass that follows (Numba creates a plain
    JIT library only when ``state.library`` is None)."""

    _name = "compiler_interrupts_install_library"

    def __init__(self):
        LoweringPass.__init__(self)

    def run_pass(self, state):
        if state.library is None:
            cfg = getattr(state.pipeline, "ci_codegen_config", CodegenConfig())
            lib = CILibrary(state.targetctx.codegen(), state.func_id.func_qualname, cfg)
            lib.enable_object_caching()
            state.library = lib
        return False


def _insert_install(pm) -> bool:
    for i, (pss, _desc) in enumerate(pm.passes):
        if isinstance(pss, type) and issubclass(pss, BaseNativeLowering):
            pm.passes.insert(i, (CIInstallLibrary, "compiler interrupts: instrumenting library"))
            pm.finalize()
            return True
    return False


_pipelines: dict[tuple, type] = {}
_pipelines_lock = threading.Lock()


def make_pipeline_class(config: CodegenConfig, base: type = nb_compiler.Compiler) -> type:
    """A compiler class (for ``pipeline_class=``) deriving from ``base`` whose lowering uses
    :class:`CILibrary` with ``config``."""
    key = (config, base)
    with _pipelines_lock:
        cls = _pipelines.get(key)
        if cls is None:
            def define_pipelines(self):
                pms = base.define_pipelines(self)
                done = [_insert_install(pm) for pm in pms]
                if not any(done):
                    import warnings

                    warnings.warn(f"compiler_interrupts.numba: pipeline {base.__name__} has no "
                                  "native lowering pass; the function runs without compiler "
                                  "interrupts", stacklevel=2)
                return pms

            cls = type(f"CI{base.__name__}", (base,), {
                "ci_codegen_config": config,
                "define_pipelines": define_pipelines,
                "__module__": __name__,
            })
            _pipelines[key] = cls
    return cls


# ----------------------------------------------------------------------------------- handlers


def resolve_handler(handler) -> tuple[int, int, object, str]:
    """``(address, kind, keepalive, stable description)`` of a Numba ``@cfunc`` or a ctypes
    function taking one int64 (the instruction count) and returning nothing, int32 or int64 (a
    non-zero result stops the jitted code with :class:`Cancelled`)."""
    from numba import types as nbt
    from numba.core.ccallback import CFunc

    def kind_of(ret) -> int:
        if ret is None or ret == nbt.void or ret == nbt.none:
            return _nat.H_VOID
        if ret in (nbt.int32, nbt.uint32, nbt.boolean, nbt.int8, nbt.uint8, nbt.int16):
            return _nat.H_I32
        if ret in (nbt.int64, nbt.uint64, nbt.intp):
            return _nat.H_I64
        raise TypeError(f"handler must return void, int32 or int64, not {ret}")

    if isinstance(handler, CFunc):
        sig = handler._sig
        if len(sig.args) > 1:
            raise TypeError("a handler takes at most one argument (the int64 instruction count)")
        desc = f"cfunc:{handler.__module__}.{handler.__qualname__}:{sig}"
        return handler.address, kind_of(sig.return_type), handler, desc
    if isinstance(handler, ctypes._CFuncPtr):
        rt = handler.restype
        if rt is None:
            kind = _nat.H_VOID
        elif ctypes.sizeof(rt) <= 4:
            kind = _nat.H_I32
        else:
            kind = _nat.H_I64
        addr = ctypes.cast(handler, ctypes.c_void_p).value
        name = getattr(handler, "__name__", None) or getattr(
            getattr(handler, "_ci_pyfunc", None), "__qualname__", "ctypes")
        desc = f"ctypes:{name}:{rt}:{handler.argtypes}"
        return addr, kind, handler, desc
    raise TypeError("handler must be a numba @cfunc or a ctypes function "
                    "(e.g. ctypes.CFUNCTYPE(None, ctypes.c_int64)(f)), "
                    f"not {type(handler).__name__}")


# ----------------------------------------------------------------------------------- cache


class _CICacheImpl(CompileResultCacheImpl):
    def get_filename_base(self, fullname, abiflags):
        return "ci-" + super().get_filename_base(fullname, abiflags)


class CIFunctionCache(FunctionCache):
    """Numba's per-function cache, in separate files (``ci-*.nbi``) and with the CI configuration
    in the index key: instrumented and plain code are never confused."""

    _impl_class = _CICacheImpl

    def __init__(self, py_func, ci_key: tuple):
        self._ci_key = ci_key
        super().__init__(py_func)

    def _index_key(self, sig, codegen):
        return super()._index_key(sig, codegen) + (self._ci_key,)


# ----------------------------------------------------------------------------------- dispatcher


class CIDispatcher(CPUDispatcher):
    """A CPU dispatcher whose code carries compiler interrupts."""

    _ci_config: CodegenConfig = CodegenConfig()
    _ci_interval: int | None = None
    _ci_handler = None

    def _ci_setup(self, config: CodegenConfig, interval, handler) -> None:
        self._ci_config = config
        self._ci_interval = interval
        self._ci_handler = handler
        self._ci_handler_info = resolve_handler(handler) if handler is not None else None

    def ci_cache_key(self) -> tuple:
        """The part of the cache key describing the CI configuration."""
        h = self._ci_handler_info[3] if self._ci_handler_info else None
        text = repr((self._ci_config.key(), self._ci_interval, h))
        return ("compiler_interrupts", hashlib.sha256(text.encode()).hexdigest()[:24])

    def enable_caching(self):
        self._cache = CIFunctionCache(self.py_func, self.ci_cache_key())

    # pickling (e.g. multiprocessing): keep the CI configuration
    def _reduce_states(self):
        d = super()._reduce_states()
        d["ci"] = (self._ci_config, self._ci_interval, self._ci_handler)
        return d

    @classmethod
    def _rebuild(cls, uuid, py_func, locals, targetoptions, can_compile, sigs, ci=None):
        try:
            return cls._memo[uuid]
        except KeyError:
            pass
        config, interval, handler = ci or (CodegenConfig(), None, None)
        self = cls(py_func, locals, targetoptions,
                   pipeline_class=make_pipeline_class(config))
        self._ci_setup(config, interval, handler)
        self._set_uuid(uuid)
        for sig in sigs:
            self.compile(sig)
        self._can_compile = can_compile
        return self


class CIConfiguredDispatcher(CIDispatcher):
    """A dispatcher with its own interval and/or handler: they apply while a call from Python
    runs (calls from other jitted functions run under their caller's settings)."""

    def __call__(self, *args, **kwargs):
        st = _nat.native().state()
        saved = (st.interval, st.handler, st.handler_kind)
        if self._ci_interval is not None:
            st.interval = self._ci_interval
        info = self._ci_handler_info
        if info is not None:
            st.handler, st.handler_kind = info[0], info[1]
        try:
            return super().__call__(*args, **kwargs)
        finally:
            st.interval, st.handler, st.handler_kind = saved


# ----------------------------------------------------------------------------------- njit


def njit(signature_or_function=None, locals=MappingProxyType({}), cache=False,
         pipeline_class=None, boundscheck=None, *, interval: int | None = None, handler=None,
         bound: int | None = None, **options):
    """Drop-in replacement for :func:`numba.njit` whose code can be interrupted.

    Same arguments and behaviour as ``numba.njit``, plus:

    * ``interval``: IR instructions between two runs of the probe slow path during a call from
      Python to this function (default: the thread's interval, see :func:`set_interval`);
    * ``handler``: a Numba ``@cfunc`` or ctypes function ``(int64) -> void|int32|int64`` called
      every ``interval`` instructions with the instruction count of the call; a non-zero result
      stops the call with :class:`Cancelled`;
    * ``bound``: the pass's largest probe-free IR cost (compile time; default
      :data:`~compiler_interrupts.integrations.numba.codegen.DEFAULT_BOUND`).

    With no options at all, Ctrl-C raises KeyboardInterrupt in the caller, and
    :func:`deadline`, :class:`CancelToken` and :func:`progress` work around any call.
    """
    if "nopython" in options:
        import warnings

        warnings.warn("nopython is set for njit and is ignored", RuntimeWarning)
        options.pop("nopython")
    if "forceobj" in options:
        import warnings

        warnings.warn("forceobj is set for njit and is ignored", RuntimeWarning)
        options.pop("forceobj")
    for bad in ("argtypes", "restype"):
        if bad in options:
            from numba.core.errors import DeprecationError

            raise DeprecationError(f"Deprecated keyword argument `{bad}`. Signatures should be "
                                   "passed as the first positional argument.")
    if options.pop("_target", "cpu") != "cpu":
        raise ValueError("compiler_interrupts.numba.njit only supports the CPU target")
    options["nopython"] = True
    options["boundscheck"] = boundscheck
    if interval is not None and (not isinstance(interval, int) or interval < 1):
        raise ValueError(f"interval must be a positive int, not {interval!r}")
    if bound is not None and (not isinstance(bound, int) or bound < 1):
        raise ValueError(f"bound must be a positive int, not {bound!r}")
    config = CodegenConfig() if bound is None else CodegenConfig(bound=bound)
    if handler is not None:
        resolve_handler(handler)  # fail early on a bad handler
    pclass = make_pipeline_class(config, pipeline_class or nb_compiler.Compiler)
    dispatcher_cls = CIConfiguredDispatcher if (interval or handler is not None) else CIDispatcher
    locals = dict(locals)

    if signature_or_function is None:
        pyfunc, sigs = None, None
    elif isinstance(signature_or_function, list):
        pyfunc, sigs = None, signature_or_function
    elif sigutils.is_signature(signature_or_function):
        pyfunc, sigs = None, [signature_or_function]
    else:
        pyfunc, sigs = signature_or_function, None

    def wrapper(func):
        from numba.core import extending

        if extending.is_jitted(func):
            raise TypeError(f"A jit decorator was called on an already jitted function {func}. "
                            "If trying to access the original python function, use the "
                            f"{func}.py_func attribute.")
        if not inspect.isfunction(func):
            raise TypeError(f"The decorated object is not a function (got type {type(func)}).")
        if nb_config.DISABLE_JIT:
            return func
        _nat.native()  # build/load the runtime, register its symbols (before any cache load)
        _ensure_configured()
        disp = dispatcher_cls(py_func=func, locals=locals, targetoptions=dict(options),
                              pipeline_class=pclass)
        disp._ci_setup(config, interval, handler)
        if cache:
            disp.enable_caching()
        if sigs is not None:
            from numba.core import typeinfer

            with typeinfer.register_dispatcher(disp):
                for sig in sigs:
                    disp.compile(sig)
                disp.disable_compile()
        return disp

    if pyfunc is not None:
        return wrapper(pyfunc)
    return wrapper


jit = njit


# ----------------------------------------------------------------------------------- runtime setup


class Cancelled(__import__("concurrent.futures").futures.CancelledError):
    """Raised in the caller when jitted code is stopped by a :class:`CancelToken` or a handler."""


def _sigint_is_default() -> bool:
    import signal

    return signal.getsignal(signal.SIGINT) is signal.default_int_handler


_configured = False


def _ensure_configured() -> None:
    global _configured
    if _configured:
        return
    n = _nat.native()
    n.py.ci_nb_configure(TimeoutError, Cancelled, KeyboardInterrupt, _sigint_is_default)
    _configured = True

