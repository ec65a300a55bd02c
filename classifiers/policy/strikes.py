"""The strike policy: when to recommend blocking a commenter.

Pure functions, no I/O. Terms: a *strike* is one policy key on one comment that the
school's policy counts against its author (``[policy] strike_keys``; a complaint never
strikes). A *block recommendation* is an alert asking the coordinator to consider
blocking the author; the program never blocks by itself.

Rules (defaults from the Libra policy, all configurable in ``[policy]``):

* the **window** is the ``window_days`` (default 30) before ``now``: a strike counts
  when ``now - window_days < strike.at <= now``. The start is **exclusive** (a strike
  exactly 30 days old has dropped out) and the end **inclusive** (the comment being
  decided on counts); strikes timed after ``now`` are ignored.
* strikes are counted **per comment**: a comment with two strike keys (say
  ``offensive_staff`` and ``defamatory_staff``) is one strike towards
  ``strikes_to_block`` (default 3); all its keys are listed in the decision.
* a comment carrying a **one-strike key** (``one_strike_keys``, default
  racist_homophobic, offensive_pupil, threat_violence) in the window is enough.
* a block recommendation is made **once per author per window**: when the previous
  recommendation (``last_recommended_at``) is within the window
  (``now - window_days < last_recommended_at <= now``), no new one is made however many
  more strikes arrive; after that, a new one needs the rules above to hold again.
* an **unknown author** (``fb:unknown``: the platform withheld who wrote the comment;
  see :func:`monitor.domain.author_known`) never strikes and is never recommended for
  blocking: many people may share that one id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Sequence

from monitor.config import PolicyConfig
from monitor.domain import Assessment, Comment, StrikeDecision, StrikeRecord, author_known, utc


def strike_records(comment: Comment, assessment: Assessment) -> list[StrikeRecord]:
    """The strikes a comment adds: one :class:`StrikeRecord` per key in
    ``assessment.strikes`` (at the comment's ``created_at``); none for uncounted comments
    (the school's own accounts) or an unknown author, and never for a complaint key."""
    if not assessment.counted or not author_known(comment.author_id):
        return []
    return [StrikeRecord(platform=comment.platform, comment_id=comment.comment_id, key=k, at=comment.created_at)
            for k in assessment.strikes if not k.startswith("complaint_")]


def window_start(now: datetime, policy: PolicyConfig) -> datetime:
    """Exclusive start of the window ending at ``now`` (aware UTC)."""
    return utc(now) - timedelta(days=policy.window_days)


def decide(author_id: str, strikes: Sequence[StrikeRecord], now: datetime, policy: PolicyConfig,
           last_recommended_at: datetime | None = None) -> StrikeDecision:
    """Decide whether a block recommendation for ``author_id`` is due at ``now``.

    :param author_id: platform-prefixed author id (``fb:...``/``tw:...``).
    :param strikes: all the author's strike records known so far (including the new
        comment's); order does not matter; complaint keys are ignored.
    :param now: the decision time (aware; the pipeline's clock, in replay the comment's
        time).
    :param policy: ``window_days``, ``strikes_to_block``, ``one_strike_keys``,
        ``strike_keys``.
    :param last_recommended_at: when a block was last recommended for this author, if
        ever.
    :returns: a :class:`StrikeDecision`; ``strikes`` lists the records in the window that
        counted (oldest first); ``recommend_block`` is True only when a recommendation is
        due now, never for an unknown author.
    :raises ValueError: a naive datetime.
    """
    now = utc(now)
    start = window_start(now, policy)
    if not author_known(author_id):
        return StrikeDecision(author_id=author_id, recommend_block=False, strikes=(),
                              reason="author unknown: the platform withheld who wrote it; no strike, no block",
                              window_start=start)
    in_window = sorted(
        (s for s in strikes
         if start < utc(s.at) <= now and s.key in policy.strike_keys and not s.key.startswith("complaint_")),
        key=lambda s: (utc(s.at), s.platform, s.comment_id, s.key),
    )
    comments: dict[tuple[str, str], list[StrikeRecord]] = {}
    for s in in_window:
        comments.setdefault((s.platform, s.comment_id), []).append(s)
    one = [s for s in in_window if s.key in policy.one_strike_keys]
    if one:
        # the one-strike comments are the ones that counted
        counted_refs = {(s.platform, s.comment_id) for s in one}
        counted = tuple(s for s in in_window if (s.platform, s.comment_id) in counted_refs)
        reason = f"one-strike key {one[0].key} on comment {one[0].comment_id}"
        due = True
    elif len(comments) >= policy.strikes_to_block:
        counted = tuple(in_window)
        reason = (f"{len(comments)} strikes in {policy.window_days} days "
                  f"(threshold {policy.strikes_to_block})")
        due = True
    else:
        counted = tuple(in_window)
        reason = (f"{len(comments)} strike(s) in {policy.window_days} days "
                  f"(threshold {policy.strikes_to_block})" if comments else "no strikes in the window")
        due = False
    if due and last_recommended_at is not None and start < utc(last_recommended_at) <= now:
        return StrikeDecision(author_id=author_id, recommend_block=False, strikes=counted,
                              reason=f"{reason}; already recommended at {utc(last_recommended_at).isoformat()} "
                                     f"(once per {policy.window_days}-day window)",
                              window_start=start)
    return StrikeDecision(author_id=author_id, recommend_block=due, strikes=counted, reason=reason,
                          window_start=start)
