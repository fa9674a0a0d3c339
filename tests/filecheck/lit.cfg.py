# lit configuration for the IR-level tests (input .ll + CHECK lines, checked with `filecheck`).
import os
import shutil
import sys

import lit.formats

config.name = "compiler-interrupts"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".ll"]
config.test_source_root = os.path.dirname(__file__)
config.excludes = ["Inputs"]

python = sys.executable
config.substitutions.append(("%ci-opt", f"{python} -m compiler_interrupts instrument"))
config.substitutions.append(("%python", python))
config.environment["PYTHONPATH"] = os.pathsep.join(
    [os.path.join(os.path.dirname(__file__), "..", "..", "src"), os.environ.get("PYTHONPATH", "")]
)
for var in ("PATH", "HOME", "TMPDIR", "CI_CACHE_DIR", "XDG_CACHE_HOME"):
    if var in os.environ:
        config.environment[var] = os.environ[var]

# Optional tools become lit features (REQUIRES: clang).
from compiler_interrupts.toolchain import clang as _clang  # noqa: E402

try:
    config.substitutions.append(("%clang", _clang.find_clang()))
    config.available_features.add("clang")
except Exception:
    pass
if shutil.which("filecheck") is None:
    lit_config.fatal("the 'filecheck' package is required: pip install filecheck")
