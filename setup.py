"""Only here to hook the cffi module (csrc/), the static exec stub and the monitor program
into the setuptools build."""

import os
import subprocess

from setuptools import setup
from setuptools.command.build_ext import build_ext

# No libc: the stub is a few raw syscalls (csrc/execstub.c), a couple of KB.
STUB_FLAGS = ["-static", "-nostdlib", "-ffreestanding", "-fno-builtin", "-fno-stack-protector",
              "-fno-pie", "-no-pie", "-fno-asynchronous-unwind-tables", "-Os", "-s",
              "-Wl,-z,noseparate-code", "-Wl,--build-id=none", "-Wall", "-Wextra", "-Werror"]
# Linked with the host's libc, shared: one detached container's mc-monitor then costs
# about 0.3 MB PSS (a static glibc one, alone on the host, about 0.7 MB).
MONITOR_FLAGS = ["-Os", "-s", "-Wall", "-Wextra", "-Werror"]


class BuildWithStub(build_ext):
    """build_ext, plus the exec stub and mc-monitor placed beside the extension (in the
    package)."""

    def run(self) -> None:
        super().run()
        package_dir = os.path.dirname(self.get_ext_fullpath("minicontainer._native"))
        os.makedirs(package_dir, exist_ok=True)
        subprocess.run(["cc", *STUB_FLAGS, "-o", os.path.join(package_dir, "_execstub"),
                        "csrc/execstub.c"], check=True)
        subprocess.run(["cc", *MONITOR_FLAGS, "-o", os.path.join(package_dir, "mc-monitor"),
                        "csrc/monitor.c"], check=True)


setup(cffi_modules=["csrc/build_native.py:ffibuilder"], cmdclass={"build_ext": BuildWithStub})
