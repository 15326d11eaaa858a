"""Data in: the embedded demo, manifests, MVSA, review corpora and image folders, with their checks."""

from .._lazy import lazy_exports

# Imported on first use: `mmsent predict` reads a manifest and needs neither the demo's generator (which
# imports scikit-learn's model selection) nor the corpus readers.
_EXPORTS = {
    "MissingFilesError": "._checks",
    "deduplicate": "._checks",
    "find_duplicates": "._checks",
    "read_text_file": "._checks",
    "load_demo": "._demo",
    "write_demo": "._demo",
    "load_image_folder": "._folder",
    "iter_manifest": "._manifest",
    "read_manifest": "._manifest",
    "load_mvsa": "._mvsa",
    "mvsa_post_label": "._mvsa",
    "load_reviews": "._reviews",
}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
