"""Text featurizers: jieba tokenization, TF-IDF and sentiment-lexicon features for Chinese, English and mixed posts."""

from .._lazy import lazy_exports

# Imported on first use, so that tokenizer worker processes can import the light
# `mmsent.text._segment` without loading scikit-learn.
_EXPORTS = {
    "JiebaTokenizer": "._tokenizer",
    "clear_token_cache": "._tokenizer",
    "passthrough_tokens": "._tokenizer",
    "TextCleaner": "._features",
    "NgramVocabulary": "._vectorizer",
    "TokenTfidfVectorizer": "._vectorizer",
    "TextDecodeError": "._features",
    "make_text_features": "._features",
    "LEXICONS": "._lexicon",
    "LexiconFeatures": "._lexicon",
}
__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
