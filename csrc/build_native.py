"""cffi (API mode) build script for minicontainer._native.

setup.py names this file in ``cffi_modules``; the C it compiles is native.c.
"""

from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

ffibuilder = FFI()
ffibuilder.cdef((HERE / "native.h").read_text().split("*/", 1)[1])
ffibuilder.set_source(
    "minicontainer._native",
    '#include <stddef.h>\n#include <stdint.h>\n#include "native.h"',
    sources=["csrc/native.c"],
    include_dirs=["csrc"],
    libraries=["seccomp"],
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
