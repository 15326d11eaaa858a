"""Data in: the embedded demo and manifests of the user's own posts."""

from ._demo import load_demo, write_demo
from ._manifest import read_manifest

__all__ = ["load_demo", "read_manifest", "write_demo"]
