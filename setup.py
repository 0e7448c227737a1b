"""Adds `gnntool.configs`, whose folder is the repository's `configs/` (see pyproject.toml and
`gnntool.shipped`), to the packages found under `gnntool/`: pyproject.toml's package discovery
cannot list a package that lives outside the package tree.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["gnntool*"]), "gnntool.configs"])
