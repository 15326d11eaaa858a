"""Jieba tokenization for Chinese, English and mixed posts, with a shared cache."""

import re
import threading
from pathlib import Path

import jieba

__all__ = ["JiebaTokenizer", "clear_token_cache"]

# URLs, @mentions and #hashtags become fixed tokens so that TF-IDF sees "a link"
# rather than thousands of unique URLs. Weibo writes hashtags as #topic#.
_ENTITY_PATTERN = re.compile(
    r"(?P<url>https?://\S+|www\.\S+)"
    r"|(?P<mention>@[\w\-]+)"
    r"|#(?P<topic>[^#\s]+)#"
    r"|#(?P<hashtag>\w+)"
)
URL_TOKEN = "<url>"
MENTION_TOKEN = "<user>"
HASHTAG_TOKEN = "<hashtag>"

# Cached tokens per tokenizer configuration. Module level on purpose: clones made by
# GridSearchCV, StackingClassifier or cross_val_score share it, so each distinct
# document is segmented once per process, however many folds or branches read it.
_TOKEN_CACHE = {}
_MAX_CACHED_DOCUMENTS = 500_000
_JIEBA_BY_USER_DICT = {}
_JIEBA_LOCK = threading.Lock()


def clear_token_cache():
    """Forget every cached tokenization (frees memory; results do not change)."""
    _TOKEN_CACHE.clear()


def _jieba_for(user_dict):
    """Return a jieba tokenizer, one per user dictionary, built lazily per process."""
    if user_dict is None:
        return jieba.dt
    key = str(Path(user_dict).resolve())
    with _JIEBA_LOCK:
        segmenter = _JIEBA_BY_USER_DICT.get(key)
        if segmenter is None:
            if not Path(key).is_file():
                raise FileNotFoundError(f"jieba user dictionary not found: {user_dict}")
            segmenter = jieba.Tokenizer()
            with open(key, "rb") as handle:  # jieba leaves a path's file open
                segmenter.load_userdict(handle)
            _JIEBA_BY_USER_DICT[key] = segmenter
    return segmenter


class JiebaTokenizer:
    """Split a post into words with jieba; picklable, usable as ``tokenizer=``.

    Works on Chinese, English and mixed text. One-character words such as 好, 差
    and 很 are kept (scikit-learn's default ``token_pattern`` would drop them), and
    whitespace is dropped. Results are cached per configuration and document, so
    cross-validation and multi-branch models segment each document once.

    Parameters
    ----------
    hmm : bool, default=True
        Let jieba's HMM find words missing from its dictionary.
    user_dict : str or path-like, default=None
        A jieba user dictionary file (one ``word [freq] [tag]`` per line).
    stop_words : collection of str, default=None
        Tokens to drop after segmentation (compared after lowercasing).
    lowercase : bool, default=True
        Lowercase Latin text before segmentation.
    normalize_entities : bool, default=True
        Replace URLs by ``<url>`` and @mentions by ``<user>``; a hashtag becomes
        ``<hashtag>`` followed by its (segmented) words.

    Examples
    --------
    >>> from mmsent.text import JiebaTokenizer
    >>> JiebaTokenizer()("质量很好 Love it! http://t.co/x @bob")
    ['质量', '很', '好', 'love', 'it', '!', '<url>', '<user>']
    """

    def __init__(
        self, hmm=True, user_dict=None, stop_words=None, lowercase=True, normalize_entities=True
    ):
        self.hmm = hmm
        self.user_dict = user_dict
        self.stop_words = stop_words
        self.lowercase = lowercase
        self.normalize_entities = normalize_entities

    def _config(self):
        stop = None if self.stop_words is None else frozenset(self.stop_words)
        user_dict = None if self.user_dict is None else str(self.user_dict)
        return (self.hmm, user_dict, stop, self.lowercase, self.normalize_entities)

    def __call__(self, doc):
        cache = _TOKEN_CACHE.setdefault(self._config(), {})
        tokens = cache.get(doc)
        if tokens is None:
            tokens = tuple(self._tokenize(doc))
            if len(cache) >= _MAX_CACHED_DOCUMENTS:
                cache.clear()
            cache[doc] = tokens
        return list(tokens)

    def _segment(self, text, segmenter):
        return [t for t in segmenter.lcut(text, HMM=self.hmm) if not t.isspace()]

    def _tokenize(self, doc):
        if not isinstance(doc, str):
            raise TypeError(f"JiebaTokenizer expects str documents, got {type(doc).__name__}")
        if self.lowercase:
            doc = doc.lower()
        segmenter = _jieba_for(self.user_dict)
        if self.normalize_entities:
            tokens, start = [], 0
            for match in _ENTITY_PATTERN.finditer(doc):
                tokens += self._segment(doc[start : match.start()], segmenter)
                if match["url"]:
                    tokens.append(URL_TOKEN)
                elif match["mention"]:
                    tokens.append(MENTION_TOKEN)
                else:
                    tokens.append(HASHTAG_TOKEN)
                    tokens += self._segment(match["topic"] or match["hashtag"], segmenter)
                start = match.end()
            tokens += self._segment(doc[start:], segmenter)
        else:
            tokens = self._segment(doc, segmenter)
        if self.stop_words is not None:
            stop = set(self.stop_words)
            tokens = [t for t in tokens if t not in stop]
        return tokens

    def __repr__(self):
        defaults = JiebaTokenizer()
        changed = [
            f"{name}={getattr(self, name)!r}"
            for name in ("hmm", "user_dict", "stop_words", "lowercase", "normalize_entities")
            if getattr(self, name) != getattr(defaults, name)
        ]
        return f"JiebaTokenizer({', '.join(changed)})"

    def __eq__(self, other):
        return type(other) is type(self) and other._config() == self._config()

    def __hash__(self):
        return hash(self._config())
