"""Policy categories: the eleven keys of the Libra social media policy, computed for every
comment with evidence, plus the strike policy.

Public interface:

* :class:`Categoriser` (``Categoriser(config).assess(comment, scores) -> Assessment``)
* :func:`decide` (strike policy, pure) and :func:`strike_records`
* :func:`load_lexicon` / :class:`Lexicon` / :class:`LexiconError` (the lexicon TOML
  format is documented in :mod:`classifiers.policy.lexicon`)
* :class:`TargetMatcher` / :class:`Mention` (who a comment is about)
"""

from classifiers.policy.categoriser import Categoriser
from classifiers.policy.lexicon import Lexicon, LexiconError, load_lexicon
from classifiers.policy.strikes import decide, strike_records, window_start
from classifiers.policy.targets import Mention, TargetMatcher

__all__ = ["Categoriser", "Lexicon", "LexiconError", "load_lexicon", "decide", "strike_records",
           "window_start", "Mention", "TargetMatcher"]
