"""Native runtime of Compiler Interrupts: ``ci_lib.h`` (public C API), ``ci_runtime.c`` (the
per-thread budget and slow path), ``ci_autostart.c`` (built-in handler on every thread), and
:mod:`.build`, which compiles and caches them (``runtime_paths``, ``header_dir``)."""
