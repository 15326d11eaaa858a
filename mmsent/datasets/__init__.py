"""Data in: the embedded demo, manifests, MVSA, review corpora and image folders, with their checks."""

from .._lazy import lazy_exports

# Imported on first use: `mmsent predict` reads a manifest and needs neither the demo's generator (which
# imports scikit-learn's model selection) nor the corpus readers. Each module, and the names it exports.
_MODULES = {
    "._checks": ("MissingFilesError", "deduplicate", "find_duplicates", "read_text_file"),
    "._demo": ("load_demo", "write_demo"),
    "._folder": ("load_image_folder",),
    "._manifest": ("iter_manifest", "read_manifest"),
    "._mvsa": ("load_mvsa", "mvsa_post_label"),
    "._reviews": ("load_reviews",),
}
_EXPORTS = {name: module for module, names in _MODULES.items() for name in names}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
