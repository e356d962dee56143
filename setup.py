"""Only here to hook the cffi module (csrc/) into the setuptools build."""

from setuptools import setup

setup(cffi_modules=["csrc/build_native.py:ffibuilder"])
