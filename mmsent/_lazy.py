"""Lazy re-exports for package ``__init__`` modules (PEP 562)."""

import importlib


def lazy_exports(package, exports):
    """Return ``__getattr__`` and ``__dir__`` that import ``exports`` (name → module) on first use."""

    def __getattr__(name):
        if name in exports:
            return getattr(importlib.import_module(exports[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(exports) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__
