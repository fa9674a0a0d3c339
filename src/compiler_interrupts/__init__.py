"""Compiler Interrupts for programs that compile through LLVM.

The pass works on LLVM's textual IR (see :mod:`compiler_interrupts.ir`), places probes
according to a *design* (see :mod:`compiler_interrupts.designs`) and links the native runtime
(see :mod:`compiler_interrupts.runtime`).
"""

__version__ = "0.1.0"
