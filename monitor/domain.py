"""Domain types shared by every part of School Social Monitor.

Connectors turn platform payloads into these; SDK objects (tweepy ``Tweet``, Graph API
dicts) never leave ``connectors/``. The pipeline, store, classifiers, alerts and reports
only see the types below. All are frozen dataclasses; timestamps are timezone-aware UTC
``datetime`` objects.

Identifiers
-----------
* ``platform`` is ``"facebook"``, ``"twitter"`` or ``"instagram"``.
* ``author_id`` is platform-prefixed: ``"fb:<Graph user id>"``, ``"tw:<X user id>"`` or
  ``"ig:<Instagram-scoped user id>"`` (IG comment ``from.id``), the same shape as
  ``[school] own_accounts`` in the config.
* A comment is identified by ``(platform, comment_id)``; ``comment_id`` is the native id
  (Graph comment id such as ``"123_456"``, X post id such as ``"1460323737035677698"``,
  IG comment id such as ``"17873440459141021"``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

PLATFORMS: tuple[str, ...] = ("facebook", "twitter", "instagram")
AUTHOR_PREFIX: Mapping[str, str] = {"facebook": "fb", "twitter": "tw", "instagram": "ig"}

#: Detoxify / Jigsaw label names, in Detoxify's order.
DETOXIFY_LABELS: tuple[str, ...] = (
    "toxicity",
    "severe_toxicity",
    "obscene",
    "threat",
    "insult",
    "identity_attack",
)

#: The eight target-independent signals of the shipped model (``classifiers.signals``):
#: Detoxify's six plus ``complaint`` (dissatisfaction with a service, a decision or
#: someone's conduct) and ``allegation`` (a claim that someone did something wrong,
#: harmful or improper). Probabilities in [0, 1], calibrated (0.5 means even odds).
SIGNALS: tuple[str, ...] = DETOXIFY_LABELS + ("complaint", "allegation")

#: The eleven policy keys of the Libra policy, in the policy's order, with its own words.
POLICY_KEYS: Mapping[str, str] = {
    "allegation_staff": "allegations made about school staff",
    "allegation_pupil": "allegations made about pupils",
    "complaint_school": "complaints made about the school",
    "complaint_staff": "complaints made about school staff",
    "defamatory_school": "defamatory statements made about the school",
    "defamatory_staff": "defamatory statements made about school staff",
    "offensive_staff": "negative or offensive comments made about school staff",
    "offensive_pupil": "negative or offensive comments made about pupils",
    "racist_homophobic": "racist or homophobic comments",
    "threat_violence": "comments which threaten violence",
    "image_of_staff": (
        "unauthorised photographic images taken by parents/carers or pupils "
        "that are posted online of staff"
    ),
}

#: Alert kinds. The first three are review items for the coordinator.
ALERT_KINDS: tuple[str, ...] = (
    "escalation",
    "block_recommendation",
    "needs_review",
    "reconnect",  # a platform credential was refused (Graph 190, X 401)
    "account_stale",  # an account has not polled successfully for too long
    "read_budget",  # X read budget at 80% (warning) or 100% (reading stopped)
    "permission",  # a permission or access tier is missing (Graph 10/200, X 403)
    "quarantine",  # a platform payload that could not be read (kept in the quarantine table)
    "backfill",  # one summary of what an account's first poll found in earlier comments
)
REVIEW_KINDS: tuple[str, ...] = ("escalation", "block_recommendation", "needs_review")

#: The native author id connectors give when the platform withheld the author (Graph
#: returns no ``from`` to a token without the Page's permissions): ``fb:unknown``.
UNKNOWN_AUTHOR = "unknown"


def author_known(author_id: str | None) -> bool:
    """False when ``author_id`` names nobody: empty, a bare prefix (``"fb:"``) or
    :data:`UNKNOWN_AUTHOR` (``"fb:unknown"``). Comments of an unknown author are stored,
    assessed and escalated, but never strike and never lead to a block recommendation:
    they may come from many different people."""
    native = (author_id or "").split(":", 1)[-1].strip()
    return bool(native) and native != UNKNOWN_AUTHOR


def utc(dt: datetime) -> datetime:
    """Return ``dt`` as an aware UTC datetime.

    :raises ValueError: if ``dt`` is naive (no tzinfo); platform timestamps always carry one.
    """
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt.isoformat()} (a UTC offset is required)")
    return dt.astimezone(timezone.utc)


def parse_time(value: str) -> datetime:
    """Parse an ISO 8601 timestamp from a platform into aware UTC.

    Accepts ``2026-09-07T15:58:26+01:00``, ``2026-09-07T14:58:26Z``, the Graph API's
    ``2026-09-07T14:58:26+0000`` and X's ``2026-09-07T14:58:26.000Z``.

    :raises ValueError: naming the value if it is not a timestamp with an offset.
    """
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) >= 5 and text[-5] in "+-" and text[-4:].isdigit() and ":" not in text[-5:]:
        text = text[:-2] + ":" + text[-2:]  # Graph API "+0000"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from exc
    return utc(dt)


def iso(dt: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with a ``Z`` suffix, second precision
    (microseconds kept when present)."""
    return utc(dt).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Attachment:
    """A photo, video or other media attached to a comment.

    ``type`` is normalised to ``photo``, ``video``, ``animated_gif``, ``sticker``,
    ``link`` or ``other``; ``url`` is the media or target URL when the platform gives one.
    """

    type: str
    url: str | None = None

    @property
    def is_image_or_video(self) -> bool:
        """True for photos, videos and GIFs (what ``image_of_staff`` is about)."""
        return self.type in ("photo", "video", "animated_gif")


@dataclass(frozen=True)
class Account:
    """A monitored platform account, built from one ``[[accounts]]`` config table.

    ``key`` is the stable name used in the store and logs (the config ``name``);
    ``external_id`` is the Facebook Page id or the X user id (or ``@handle`` until resolved).
    """

    key: str
    platform: str
    external_id: str
    display_name: str = ""


@dataclass(frozen=True)
class Post:
    """A post by the school's account that comments hang off.

    ``post_id`` is native (Graph ``{page-id}_{post-id}``, X conversation id).
    """

    platform: str
    account: str
    post_id: str
    text: str
    created_at: datetime
    permalink: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Comment:
    """One comment or reply, exactly as the platform gave it.

    :ivar platform: ``facebook``, ``twitter`` or ``instagram``.
    :ivar account: the monitored account key it was fetched for.
    :ivar post_id: the school post it belongs to (Graph post id, X conversation id, IG
        media id).
    :ivar comment_id: native comment / post id.
    :ivar parent_id: the comment it replies to, or None for a top-level comment.
    :ivar author_id: platform-prefixed author id (``fb:...`` / ``tw:...`` / ``ig:...``).
    :ivar author_name: display name (Graph ``from.name``, X ``name``, IG ``from.username``:
        Instagram gives no display name), may be empty.
    :ivar text: the exact words (Graph ``message``, X ``text``, IG ``text``), never altered.
    :ivar created_at: aware UTC.
    :ivar permalink: link to the comment on the platform.
    :ivar attachments: media attached to the comment.
    :ivar raw: the platform payload (JSON-able), kept as evidence.
    :ivar post_text: the school post's text when known (context for alerts and review).
    :ivar author_handle: X ``username`` / IG ``from.username`` (for profile links), None
        elsewhere.
    :ivar is_hidden: Graph ``is_hidden`` / X hidden reply / IG ``hidden``, when known.
    :ivar parent_text: the text of the comment it replies to, when known (thread
        context for the categoriser: "he did the same to my son"); not stored, filled
        from the store's copy of the parent when assessing.
    """

    platform: str
    account: str
    post_id: str
    comment_id: str
    parent_id: str | None
    author_id: str
    author_name: str
    text: str
    created_at: datetime
    permalink: str | None = None
    attachments: tuple[Attachment, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    post_text: str | None = None
    author_handle: str | None = None
    is_hidden: bool | None = None
    parent_text: str | None = field(default=None, compare=False, repr=False)

    @property
    def ref(self) -> tuple[str, str]:
        """``(platform, comment_id)``: the comment's identity in the store."""
        return (self.platform, self.comment_id)

    def content_sha256(self) -> str:
        """SHA-256 (hex) of the canonical content: the fields whose change makes a new
        version (text, attachments, author, parent, post). Stable across runs."""
        canonical = json.dumps(
            {
                "platform": self.platform,
                "comment_id": self.comment_id,
                "post_id": self.post_id,
                "parent_id": self.parent_id,
                "author_id": self.author_id,
                "text": self.text,
                "attachments": [[a.type, a.url] for a in self.attachments],
            },
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class QuarantinedPayload:
    """A payload the platform returned that could not be turned into a :class:`Post` or
    :class:`Comment` (a Graph comment without ``created_time``, a non-string
    ``message``, ``from`` as a string, ``id: null``; an X post without ``created_at``).
    It is stored as it came (the ``quarantine`` table, in the poll's transaction) and a
    person is alerted, instead of being dropped.

    :ivar platform: ``facebook`` or ``twitter``.
    :ivar account: the monitored account key it was fetched for.
    :ivar kind: ``comment`` or ``post``.
    :ivar post_id: the school post it came with, when known.
    :ivar item_id: the payload's own id when it is readable, else None.
    :ivar reason: why it could not be read, naming the field (the mapper's error text).
    :ivar raw: the payload exactly as returned (any JSON value; secret URL parameters
        removed).
    """

    platform: str
    account: str
    kind: str
    post_id: str | None
    item_id: str | None
    reason: str
    raw: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Scores:
    """A scorer's output for one comment.

    :ivar values: Detoxify label name to probability in [0, 1] (a subset of
        :data:`DETOXIFY_LABELS`; the scorer says which in ``labels``).
    :ivar model: scorer name, e.g. ``embedded`` or ``detoxify-original``.
    :ivar model_version: version string, e.g. the model file's SHA-256 prefix.
    :ivar language: ISO 639-1 code detected, or None when undetermined.
    :ivar readable: False when the scorer cannot read this language: the scores are then
        not to be trusted and the comment must go to a person (``needs_review``).
    """

    values: Mapping[str, float]
    model: str
    model_version: str
    language: str | None = None
    readable: bool = True

    def get(self, label: str) -> float:
        """The probability for ``label``, 0.0 when the scorer does not offer it."""
        return float(self.values.get(label, 0.0))


@dataclass(frozen=True)
class Evidence:
    """Why a policy key was given: one reason, readable by a coordinator.

    :ivar key: the policy key it supports.
    :ivar kind: ``target`` (who it is about), ``pattern`` (a phrase or rule matched),
        ``lexicon`` (a word list hit), ``score`` (a model score over a threshold),
        ``attachment`` or ``language``.
    :ivar detail: one readable sentence, e.g. ``'"Mrs Ashworth" = Helen Ashworth (headteacher)'``.
    :ivar span: character offsets ``(start, end)`` in the comment text, when textual.
    :ivar label: the score label (``threat``) for ``score`` evidence.
    :ivar score: the probability; ``threshold`` the configured threshold it passed.
    """

    key: str
    kind: str
    detail: str
    span: tuple[int, int] | None = None
    label: str | None = None
    score: float | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (used in the store, alerts and ``score`` output)."""
        d: dict[str, Any] = {"key": self.key, "kind": self.kind, "detail": self.detail}
        if self.span is not None:
            d["span"] = list(self.span)
        if self.label is not None:
            d["label"] = self.label
        if self.score is not None:
            d["score"] = round(self.score, 4)
        if self.threshold is not None:
            d["threshold"] = self.threshold
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Evidence":
        """Inverse of :meth:`to_dict`."""
        span = d.get("span")
        return cls(
            key=d["key"],
            kind=d["kind"],
            detail=d["detail"],
            span=tuple(span) if span else None,  # type: ignore[arg-type]
            label=d.get("label"),
            score=d.get("score"),
            threshold=d.get("threshold"),
        )


@dataclass(frozen=True)
class Assessment:
    """The policy categoriser's verdict on one comment.

    :ivar categories: policy keys given, in :data:`POLICY_KEYS` order.
    :ivar evidence: for each key, the reasons (at least one per key).
    :ivar escalate: True when any key asks for escalation at once (per config).
    :ivar strikes: the keys that count as strikes against the author (per config).
    :ivar needs_review: True when a person must look (unreadable language, etc.).
    :ivar review_reasons: why, in words.
    :ivar counted: False for comments the policy never counts (the school's own accounts).
    """

    categories: tuple[str, ...] = ()
    evidence: Mapping[str, tuple[Evidence, ...]] = field(default_factory=dict)
    escalate: bool = False
    strikes: tuple[str, ...] = ()
    needs_review: bool = False
    review_reasons: tuple[str, ...] = ()
    counted: bool = True

    def evidence_list(self) -> list[dict[str, Any]]:
        """All evidence as JSON-able dicts, in category order."""
        return [e.to_dict() for k in self.categories for e in self.evidence.get(k, ())]


@dataclass(frozen=True)
class StrikeRecord:
    """One strike: a comment that counted against its author."""

    platform: str
    comment_id: str
    key: str
    at: datetime


@dataclass(frozen=True)
class StrikeDecision:
    """The strike policy's decision for one author after a new comment.

    :ivar author_id: platform-prefixed author id.
    :ivar recommend_block: True when a block recommendation is due now (made once per
        author per window).
    :ivar strikes: the strikes in the window that counted, oldest first.
    :ivar reason: readable, e.g. ``"3 strikes in 30 days (threshold 3)"`` or
        ``"one-strike key racist_homophobic"``.
    :ivar window_start: start of the window the decision covers (aware UTC).
    """

    author_id: str
    recommend_block: bool
    strikes: tuple[StrikeRecord, ...] = ()
    reason: str = ""
    window_start: datetime | None = None


@dataclass(frozen=True)
class Alert:
    """Something a person must hear about; stored in the outbox before it is sent.

    :ivar kind: one of :data:`ALERT_KINDS`.
    :ivar dedupe_key: unique per alert, so the same thing never alerts twice, e.g.
        ``escalation:facebook:123_456`` or ``block_recommendation:fb:1004:2026-09-07``.
    :ivar created_at: aware UTC (the pipeline's clock).
    :ivar comment_refs: ``(platform, comment_id)`` pairs the alert is about.
    :ivar categories: policy keys involved.
    :ivar platform, account, post_id, author_id: context, when relevant.
    :ivar summary: one line, no CR/LF, for the subject.
    :ivar details: JSON-able extra data for rendering (evidence, strikes, reasons).
    """

    kind: str
    dedupe_key: str
    created_at: datetime
    comment_refs: tuple[tuple[str, str], ...] = ()
    categories: tuple[str, ...] = ()
    platform: str | None = None
    account: str | None = None
    post_id: str | None = None
    author_id: str | None = None
    summary: str = ""
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def urgent(self) -> bool:
        """Escalations and credential/stale alerts go at once; others are grouped."""
        return self.kind in ("escalation", "reconnect", "account_stale", "permission")
