"""Adds `gnntool.configs` and `gnntool.shipped_data`, whose folders are the repository's `configs/`
and `data/` (see pyproject.toml and `gnntool.shipped`), to the packages found under `gnntool/`:
pyproject.toml's package discovery cannot list a package that lives outside the package tree.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["gnntool*"]), "gnntool.configs", "gnntool.shipped_data"])
