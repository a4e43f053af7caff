"""Build hook: the cffi extension (cse_build.py); metadata is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["cse_build.py:ffibuilder"])
