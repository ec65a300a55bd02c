"""Alert emails: who receives an alert (routing) and what it says (rendering).

Pure functions over ``alerts`` rows (see :mod:`monitor.schema` and the alerts contract in
``monitor/pipeline.py``): no SMTP, no clock. Delivery is :mod:`monitor.delivery.outbox`'s job.

Routing
-------
An alert's roles are the union of ``[alerts.routes]`` for its kind (``needs_review``,
``block_recommendation``, ``reconnect``, ...) and for each of its policy keys
(``threat_violence`` -> safeguarding lead and coordinator, ...). Each role is expanded to
its addresses from ``[alerts.recipients]``; a role with no address falls back to the
coordinator's addresses; the list is de-duplicated (case-insensitive, first spelling
kept). When nobody at all is configured the result is empty and the outbox keeps the
alert pending (logged as ``alert_no_recipients``) until an address is configured: an
alert is never dropped for want of a recipient.

Rendering
---------
:func:`render_alert_message` builds one ``multipart/alternative`` email (plain text and
HTML, UTF-8) for one alert or a group of alerts. It states what happened and why (the
policy keys in the policy's own words, with the categoriser's evidence and the model
scores), quotes the exact comment text, names the author with a profile link and the
permalink, the platform and the school's post, gives times in the school's timezone,
the recommended action from the policy's action table (for a block recommendation: the
author's strike history and how to block on that platform), and how to acknowledge.

Hostile text is made safe: user text never reaches a header except through
:func:`header_text` (control and bidi-override characters removed, whitespace collapsed,
length capped); HTML is escaped with :func:`html.escape`; user strings are bidi-isolated
(``<bdi>`` in HTML, U+2068..U+2069 in text) so right-to-left overrides cannot reorder
the surrounding sentence; NUL and other control characters and lone surrogates are
replaced with U+FFFD; a quoted comment is capped at :data:`MAX_QUOTE_CHARS` characters
(the full text stays in the store as evidence).
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any, Iterable, Mapping, Sequence

from monitor.config import Config
from monitor.domain import POLICY_KEYS, author_known, parse_time

#: Platform names as people say them.
PLATFORM_NAMES: Mapping[str, str] = {"facebook": "Facebook", "twitter": "X", "instagram": "Instagram"}

#: Longest comment text quoted in an email (characters); longer text is cut with a note.
MAX_QUOTE_CHARS = 5000
#: Longest subject line (characters, before MIME encoding).
MAX_SUBJECT_CHARS = 140
#: Longest user-supplied name shown in a subject.
MAX_SUBJECT_NAME_CHARS = 40

#: What each escalation key asks the coordinator to do (the policy's action table).
ESCALATION_ACTIONS: Mapping[str, str] = {
    "threat_violence": "Escalate at once to the safeguarding lead; contact the police where the threat is credible.",
    "allegation_staff": ("Escalate at once to the Headteacher; an allegation about staff may need a referral "
                         "to the LADO (Local Authority Designated Officer)."),
    "allegation_pupil": "Escalate at once to the Headteacher (safeguarding).",
    "image_of_staff": ("Escalate at once and request removal of the image (ask the author to take it down and "
                       "report it to the platform)."),
}

#: The review commands (issue 8) printed in every review alert.
ACK_COMMAND = "school-monitor review ack {id}"
RESOLVE_COMMAND = "school-monitor review resolve {id} --verdict confirmed|false_positive|blocked|hidden|removed"
SHOW_COMMAND = "school-monitor review show {id}"
EVIDENCE_COMMAND = "school-monitor evidence export --comment {platform}:{comment_id} -o evidence-{safe_id}.zip"
#: Blocking on Facebook from this server (Graph API ``POST /{page-id}/blocked``).
FACEBOOK_BLOCK_COMMAND = "school-monitor review block {id} --yes"
#: Hiding the comment (Facebook comment or X reply) from this server.
HIDE_COMMAND = "school-monitor review hide {id} --yes"

_JSON_COLUMNS = ("comment_refs", "categories", "details")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BIDI_AND_FORMAT = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
FSI, PDI = "\u2068", "\u2069"


# --------------------------------------------------------------------------- text safety


def safe_text(value: Any) -> str:
    """User text made safe for an email body (not for headers): CRLF and CR become LF,
    NUL and other control characters (not TAB or LF) become U+FFFD, lone surrogates
    (undecodable bytes from a platform) become U+FFFD. Letters, emoji and
    right-to-left text are kept exactly."""
    text = "" if value is None else str(value)
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> '?'
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("\ufffd", text)


def header_text(value: Any, limit: int = MAX_SUBJECT_CHARS) -> str:
    """User text made safe for a header: no CR, LF or other control characters, no bidi
    overrides or invisible format characters, whitespace collapsed to single spaces,
    cut to ``limit`` characters with an ellipsis."""
    text = safe_text(value).replace("\ufffd", " ")
    text = _BIDI_AND_FORMAT.sub("", text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: max(0, limit - 1)].rstrip() + "…"
    return text


_BIDI_CLASSES = frozenset({"R", "AL", "AN", "RLE", "RLO", "LRE", "LRO", "PDF", "RLI", "LRI", "FSI", "PDI"})


def needs_isolation(text: str) -> bool:
    """True when ``text`` holds right-to-left letters or bidi control characters."""
    return any(unicodedata.bidirectional(ch) in _BIDI_CLASSES for ch in text)


def isolate(value: Any) -> str:
    """User text for the plain-text part, made safe (:func:`safe_text`) and, when it holds
    right-to-left letters or bidi controls, bidi-isolated (FSI ... PDI) so that an
    override inside it cannot reorder the words around it. Plain left-to-right text is
    returned unchanged."""
    text = safe_text(value)
    return f"{FSI}{text}{PDI}" if needs_isolation(text) else text


def quote_text(value: Any, limit: int = MAX_QUOTE_CHARS) -> tuple[str, int]:
    """The comment text to quote, cut to ``limit`` characters.

    :returns: (text, number of characters left out).
    """
    text = safe_text(value)
    if len(text) <= limit:
        return text, 0
    return text[:limit], len(text) - limit


def platform_name(platform: str | None) -> str:
    """``Facebook`` / ``X`` / ``Instagram`` (or the raw value for anything else)."""
    return PLATFORM_NAMES.get(platform or "", platform or "unknown platform")


def key_words(key: str) -> str:
    """A policy key in the policy's own words (the key itself when unknown)."""
    return POLICY_KEYS.get(key, key)


def local_time(value: str | datetime | None, config: Config) -> str:
    """A UTC timestamp (ISO text or aware datetime) in the school's timezone, e.g.
    ``Mon 7 Sep 2026, 15:58 BST``; empty for None; the input unchanged if unparseable."""
    if not value:
        return ""
    try:
        dt = value if isinstance(value, datetime) else parse_time(str(value))
    except ValueError:
        return safe_text(value)
    loc = dt.astimezone(config.school.tz)
    return f"{loc:%a} {loc.day} {loc:%b %Y}, {loc:%H:%M} {loc.tzname()}"


# --------------------------------------------------------------------------- rows


def decode_alert(row: Mapping[str, Any]) -> dict[str, Any]:
    """An ``alerts`` row with its JSON columns (``comment_refs``, ``categories``,
    ``details``) decoded; already-decoded values are kept. Returns a new dict."""
    out = dict(row)
    defaults = {"comment_refs": [], "categories": [], "details": {}}
    for col in _JSON_COLUMNS:
        v = out.get(col)
        if isinstance(v, (str, bytes)):
            try:
                v = json.loads(v) if v else defaults[col]
            except ValueError:
                v = defaults[col]
        out[col] = v if v is not None else defaults[col]
    return out


def alert_to_json(alert_row: Mapping[str, Any]) -> dict[str, Any]:
    """The replay output line for an alert: ``{"kind", "comment_ids", "author_id",
    "categories", "created_at"}``; ``comment_ids`` are native comment ids (from
    ``comment_refs``), ``created_at`` the alert's ISO UTC time."""
    a = decode_alert(alert_row)
    return {
        "kind": a.get("kind"),
        "comment_ids": [ref[1] for ref in a["comment_refs"] if len(ref) >= 2],
        "author_id": a.get("author_id"),
        "categories": list(a["categories"]),
        "created_at": a.get("created_at"),
    }


# --------------------------------------------------------------------------- routing


def route_roles(alert: Mapping[str, Any], config: Config) -> list[str]:
    """The roles an alert goes to: ``[alerts.routes]`` of its kind, then of each of its
    policy keys, in that order, without repeats."""
    a = decode_alert(alert)
    routes = config.alerts.routes
    roles: list[str] = []
    for what in [a.get("kind") or "", *a["categories"]]:
        for role in routes.get(what, ()):
            if role not in roles:
                roles.append(role)
    return roles


def role_addresses(roles: Iterable[str], config: Config) -> list[str]:
    """The addresses of ``roles`` from ``[alerts.recipients]``; a role with no address
    falls back to the coordinator's. De-duplicated case-insensitively, order kept. Empty
    when nobody (not even the coordinator) is configured."""
    recipients = config.alerts.recipients
    out: list[str] = []
    seen: set[str] = set()
    for role in roles:
        addrs = recipients.get(role) or recipients.get("coordinator") or ()
        for addr in addrs:
            if addr.lower() not in seen:
                seen.add(addr.lower())
                out.append(addr)
    return out


def recipients_for(alerts: Sequence[Mapping[str, Any]], config: Config) -> list[str]:
    """Everyone who must receive these alerts (see the module docstring). An alert with
    no route at all goes to the coordinator."""
    roles: list[str] = []
    for a in alerts:
        for role in route_roles(a, config) or ["coordinator"]:
            if role not in roles:
                roles.append(role)
    return role_addresses(roles, config)


# --------------------------------------------------------------------------- content model


@dataclass
class Section:
    """One alert's content, renderer-neutral. ``facts`` are (label, value, link) rows;
    ``blocks`` are (kind, payload) with kind ``para``, ``quote``, ``list``, ``code``,
    ``subhead``; user text inside is raw (renderers make it safe)."""

    title: str
    facts: list[tuple[str, str, str | None]] = field(default_factory=list)
    blocks: list[tuple[str, Any]] = field(default_factory=list)


def _evidence_lines(key: str, assessment: Mapping[str, Any]) -> list[str]:
    lines = []
    for ev in assessment.get("evidence") or []:
        if ev.get("key") != key:
            continue
        line = str(ev.get("detail", ""))
        if ev.get("score") is not None:
            thr = ev.get("threshold")
            line += f" (score {float(ev['score']):.2f}" + (f", threshold {float(thr):.2f})" if thr is not None else ")")
        lines.append(line)
    return lines


def _key_action(key: str, config: Config) -> str:
    pol = config.policy
    if key in pol.escalate_keys:
        return ESCALATION_ACTIONS.get(key, "Escalate at once (this school's policy).")
    if key in pol.one_strike_keys:
        return "A strike against the author; one is enough to recommend blocking the commenter."
    if key in pol.strike_keys:
        return (f"A strike against the author; {pol.strikes_to_block} strikes in {pol.window_days} days "
                "recommend blocking.")
    if key.startswith("complaint_"):
        return "Counted and reported; never a strike (parents are entitled to complain)."
    return "Counted in the weekly report."


def block_instructions(platform: str | None, author_id: str | None, handle: str | None,
                       alert_id: Any) -> list[str]:
    """How to block an author on their platform, in steps a coordinator can follow.

    Facebook: the Page's blocked list, or this tool (Graph API ``POST /{page-id}/blocked``).
    X: in the app only (blocking was removed from the X API v2: there is no block endpoint).
    Instagram: in the app only (the Instagram Graph API has no block endpoint); hiding the
    comment is available (``POST /{ig-comment-id}?hide=true``).
    """
    native = (author_id or "").split(":", 1)[-1]
    if platform == "facebook":
        return [
            "On Facebook, as the Page: open the comment, click ⋯ next to it and choose to ban/block the person; "
            "or Page settings → Privacy → Blocking → add them to the blocked list.",
            "Or from this server (needs block_enabled = true for the account): "
            + FACEBOOK_BLOCK_COMMAND.format(id=alert_id),
        ]
    if platform == "twitter":
        link = f"https://x.com/{handle}" if handle else f"https://x.com/i/user/{native}"
        return [
            f"On X, in the app or on x.com, signed in as the school: open the profile {link} → ⋯ → Block.",
            "Blocking through the X API is not available to this tool; hiding the reply is: "
            + HIDE_COMMAND.format(id=alert_id),
        ]
    if platform == "instagram":
        link = f"https://www.instagram.com/{handle}/" if handle else None
        where = f"open the profile {link}" if link else "tap the commenter's name on the comment to open their profile"
        return [
            f"On Instagram, in the app signed in as the school's account: {where} → ⋯ → Block.",
            "The Instagram API has no block endpoint, so this tool cannot block; hiding the comment is "
            "available: " + HIDE_COMMAND.format(id=alert_id),
        ]
    return ["Block the author on the platform, then record it with --verdict blocked."]


def _comment_facts(c: Mapping[str, Any], config: Config, author: Mapping[str, Any] | None = None
                   ) -> list[tuple[str, str, str | None]]:
    facts: list[tuple[str, str, str | None]] = []
    author = author or {}
    name = c.get("author_name") or author.get("name") or ""
    handle = c.get("author_handle") or author.get("handle")
    author_id = c.get("author_id") or author.get("author_id") or ""
    who = name or "(no name given)"
    if handle and handle != name:  # Instagram gives only a username: shown once, as @username
        who += f" (@{handle})"
    elif handle:
        who = f"@{handle}"
    profile = author.get("profile_url")
    if not profile and author_id:
        native = author_id.split(":", 1)[-1]
        if c.get("platform") == "twitter":
            profile = f"https://x.com/{handle}" if handle else f"https://x.com/i/user/{native}"
        elif c.get("platform") == "facebook":
            profile = f"https://www.facebook.com/{native}"
        elif c.get("platform") == "instagram" and handle:
            profile = f"https://www.instagram.com/{handle}/"
    facts.append(("Author", f"{who}, id {author_id}", profile))
    facts.append(("Platform", f"{platform_name(c.get('platform'))} (account {c.get('account') or '?'})", None))
    facts.append(("Posted", local_time(c.get("created_at"), config), None))
    post = c.get("post_text")
    post_line = f"post {c.get('post_id') or '?'}"
    if post:
        post_line = f"{header_text(post, 120)} ({post_line})"
    facts.append(("On the school's post", post_line, None))
    if c.get("parent_id"):
        facts.append(("In reply to", f"comment {c['parent_id']}", None))
    facts.append(("Comment", f"{c.get('comment_id') or '?'}", c.get("permalink")))
    for att in c.get("attachments") or []:
        facts.append(("Attachment", str(att.get("type") or "other"), att.get("url")))
    return facts


def _review_blocks(alert_id: Any, kind: str, config: Config) -> list[tuple[str, Any]]:
    blocks: list[tuple[str, Any]] = [("subhead", "How to acknowledge")]
    lines = [ACK_COMMAND.format(id=alert_id), RESOLVE_COMMAND.format(id=alert_id), SHOW_COMMAND.format(id=alert_id)]
    blocks.append(("code", "\n".join(lines)))
    if kind == "escalation":
        hours = config.alerts.repeat_minutes / 60
        blocks.append(("para", f"Until it is acknowledged this escalation is repeated every {hours:g} hours."))
    return blocks


def author_history(store: Any, author_id: str | None, comment_id: str | None, config: Config,
                   at: datetime) -> dict[str, int] | None:
    """An author's record in the store as of ``at`` (the alert's time), for context in an
    alert: ``flagged`` (their other comments posted by then that carry a policy key or
    await review) and ``strikes`` (their comments with a strike in the ``[policy]
    window_days`` days up to ``at``). None without a store or author."""
    if store is None or not author_known(author_id):
        return None  # an unknown author pools many people: no record to show
    until = (at.astimezone(timezone.utc) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    since = (at - timedelta(days=config.policy.window_days)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    flagged = store.scalar("SELECT COUNT(*) FROM comments WHERE author_id = ? AND flagged = 1 AND comment_id != ? "
                           "AND created_at < ?", [author_id, comment_id or "", until])
    strikes = store.scalar("SELECT COUNT(DISTINCT comment_id) FROM strikes WHERE author_id = ? AND at >= ? "
                           "AND at < ?", [author_id, since, until])
    return {"flagged": int(flagged or 0), "strikes": int(strikes or 0)}


def alert_section(alert_row: Mapping[str, Any], config: Config, history: Mapping[str, int] | None = None
                  ) -> Section:
    """The content of one alert (any kind), renderer-neutral. ``history`` is the author's
    record (:func:`author_history`), shown when given."""
    a = decode_alert(alert_row)
    kind = a.get("kind") or "alert"
    d: Mapping[str, Any] = a["details"] if isinstance(a["details"], Mapping) else {}
    aid = a.get("id", "?")
    c: Mapping[str, Any] = d.get("comment") or {}
    assessment: Mapping[str, Any] = d.get("assessment") or {}
    cats = list(a["categories"]) or list(assessment.get("categories") or [])

    if kind in ("escalation", "needs_review", "block_recommendation"):
        titles = {"escalation": "Escalation", "needs_review": "A comment needs a person to read it",
                  "block_recommendation": "Blocking recommended"}
        sec = Section(title=f"{titles[kind]} (alert {aid})")
        if kind == "block_recommendation":
            author = d.get("author") or {}
            sec.blocks.append(("para", f"Why: {d.get('reason') or 'strike threshold reached'}."))
            sec.facts = _comment_facts(c or {"author_id": a.get("author_id"), "platform": a.get("platform")},
                                       config, author)[:1]
            sec.blocks.append(("subhead", f"Strikes in the last {d.get('window_days', config.policy.window_days)} days"))
            items = []
            for s in d.get("strikes") or []:
                text, cut = quote_text(s.get("text") or "", 300)
                items.append({"text": f"{local_time(s.get('at'), config)}: {key_words(s.get('key', ''))} "
                                      f"[{s.get('key')}], {platform_name(s.get('platform'))} comment "
                                      f"{s.get('comment_id')}",
                              "quote": text + ("…" if cut else ""), "link": s.get("permalink")})
            sec.blocks.append(("strikes", items))
            sec.blocks.append(("subhead", "The comment that reached the threshold"))
        else:
            sec.facts = []
        if kind == "needs_review":
            reasons = list(assessment.get("review_reasons") or [])
            sec.blocks.append(("para", "Why: " + ("; ".join(reasons) if reasons else "the system cannot judge it")
                               + ". It is not counted as clean until a person has read it."))
        if c:
            facts = _comment_facts(c, config, d.get("author"))
            sec.blocks.append(("facts", facts if kind != "block_recommendation" else facts[1:]))
            text, cut = quote_text(c.get("text"))
            sec.blocks.append(("quote", (text, cut)))
        if history is not None and kind != "block_recommendation":
            sec.blocks.append(("para", f"This author's record here: {history['flagged']} other comment(s) with a "
                                       f"policy key or awaiting review; {history['strikes']} comment(s) with a strike "
                                       f"in the last {config.policy.window_days} days."))
        if cats:
            sec.blocks.append(("subhead", "What it was categorised as, and why"))
            items = []
            for k in cats:
                items.append({"text": f"{key_words(k)} [{k}]", "sub": _evidence_lines(k, assessment)})
            sec.blocks.append(("keys", items))
        scores = d.get("scores") or {}
        if scores:
            shown = ", ".join(f"{k} {float(v):.2f}" for k, v in sorted(scores.items(), key=lambda kv: -float(kv[1])))
            lang = d.get("language")
            sec.blocks.append(("para", f"Model scores: {shown}" + (f"; language: {lang}" if lang else "") + "."))
        sec.blocks.append(("subhead", "Recommended action"))
        actions = []
        if kind == "block_recommendation":
            actions.append("Block the commenter (the policy: block after a breach), then record it: "
                           f"school-monitor review resolve {aid} --verdict blocked.")
            actions += block_instructions(a.get("platform") or c.get("platform"), a.get("author_id"),
                                          (d.get("author") or {}).get("handle") or c.get("author_handle"), aid)
        elif kind == "needs_review":
            actions.append("Read the comment (translate it if needed) and record your verdict with the resolve "
                           "command below.")
        for k in cats:
            actions.append(f"{key_words(k)}: {_key_action(k, config)}")
        if c.get("comment_id"):
            safe_id = re.sub(r"[^A-Za-z0-9_-]", "_", str(c["comment_id"]))
            actions.append("Keep the evidence (it is stored; do not rely on the platform keeping it): "
                           + EVIDENCE_COMMAND.format(platform=c.get("platform") or a.get("platform"),
                                                     comment_id=c["comment_id"], safe_id=safe_id))
        sec.blocks.append(("list", actions))
        sec.blocks += _review_blocks(aid, kind, config)
        return sec

    # account-level kinds
    account = d.get("account") or a.get("account") or "?"
    plat = platform_name(d.get("platform") or a.get("platform"))
    if kind == "reconnect":
        sec = Section(title=f"Reconnect {plat} account {account} (alert {aid})")
        sec.blocks.append(("para", f"The platform refused the account's credential; polling of {account} is "
                                   "paused, so new comments are not being read."))
        sec.blocks.append(("para", f"Error: {d.get('error') or '?'}"))
        sec.blocks.append(("subhead", "Recommended action"))
        guide = {"instagram": "README: 'Instagram': the linked Page's access token",
                 "twitter": "README: 'X credentials'"}.get(d.get("platform") or a.get("platform") or "",
                                                           "README: 'Getting a Page access token'")
        sec.blocks.append(("list", [f"Renew the token ({guide}) and update the secret it is read from.",
                                    "Run: school-monitor check  (polling resumes when it passes)."]))
    elif kind == "permission" and d.get("error_kind") == "invalid_request":
        sec = Section(title=f"{plat} keeps refusing a request for account {account} (alert {aid})")
        sec.blocks.append(("para", f"The platform refused the same request as invalid twice in a row; polling of "
                                   f"{account} is paused so that it does not fail on every poll."))
        sec.blocks.append(("para", f"Error: {d.get('error') or '?'}"))
        sec.blocks.append(("subhead", "Recommended action"))
        sec.blocks.append(("list", ["Check the account's user_id and handle in the config against the error.",
                                    "Run: school-monitor check  (polling resumes when it passes); if it keeps "
                                    "failing, send the error to whoever supports this installation."]))
    elif kind == "permission":
        sec = Section(title=f"Permission missing for {plat} account {account} (alert {aid})")
        sec.blocks.append(("para", f"The platform refused a request for lack of a permission or access tier; "
                                   f"polling of {account} is paused."))
        sec.blocks.append(("para", f"Error: {d.get('error') or '?'}"))
        sec.blocks.append(("subhead", "Recommended action"))
        sec.blocks.append(("list", ["Grant the permission named in the error (README lists the ones needed).",
                                    "Run: school-monitor check  (polling resumes when it passes)."]))
    elif kind == "account_stale":
        sec = Section(title=f"{plat} account {account} has not been read for {d.get('hours', '?')} hours "
                            f"(alert {aid})")
        last = local_time(d.get("last_success_at"), config) if d.get("last_success_at") else "never"
        sec.blocks.append(("para", f"Last successful poll: {last}. Last error: {d.get('last_error') or 'none'}."))
        sec.blocks.append(("subhead", "Recommended action"))
        sec.blocks.append(("list", ["Run: school-monitor status  and  school-monitor check",
                                    "Until this is fixed, comments on this account are not being monitored."]))
    elif kind == "read_budget":
        level = d.get("level")
        if d.get("x_said"):
            sec = Section(title=f"X stopped reading for {account}: usage cap or credits (alert {aid})")
            sec.blocks.append(("para", f"X refused to read more: {d['x_said']}. Polling of {account} is paused, "
                                       "so new comments are not being read."))
        else:
            sec = Section(title=f"X read budget for {account} at {level}% (alert {aid})")
        used = []
        if d.get("budget_usd") is not None:
            used.append(f"${float(d.get('cost_usd') or 0):,.2f} of ${float(d['budget_usd']):,.2f} (estimated at X's "
                        "pay-per-use prices)")
        if d.get("cap") is not None:
            used.append(f"{d.get('reads', '?')} of {d.get('cap')} posts")
        sec.blocks.append(("para", f"Spent in {d.get('month', '?')}: {' and '.join(used) or '?'}; "
                                   f"{d.get('reads', '?')} post reads, {d.get('user_reads', 0)} user reads."
                           + (" Reading has stopped until next month." if level == 100 and not d.get("x_said") else "")))
        sec.blocks.append(("subhead", "Recommended action"))
        if d.get("x_said"):
            sec.blocks.append(("list", ["Add credits or raise the spending limit in the X Developer Console "
                                        "(console.x.com, Billing), or wait for the next billing period.",
                                        "Run: school-monitor check  (polling resumes when it passes)."]))
        else:
            sec.blocks.append(("list", ["Raise monthly_budget_usd (or monthly_read_cap on a legacy plan) for the "
                                        "account if the school agrees to spend more, or poll less often "
                                        "(poll_interval_minutes)."]))
    elif kind == "quarantine":
        what = "post" if d.get("kind") == "post" else "comment"
        sec = Section(title=f"Unreadable {plat} {what} kept in quarantine (alert {aid})")
        sec.facts += [("Account", account, None), ("Post", d.get("post_id") or "unknown", None),
                      ("Item id", d.get("item_id") or "unreadable", None),
                      ("Quarantine row", str(d.get("quarantine_id") or "?"), None)]
        sec.blocks.append(("para", f"{plat} returned a {what} this program could not read, so it was NOT "
                                   f"assessed: {d.get('reason') or '?'}. It is kept exactly as returned in the "
                                   "store's quarantine table; a person must read it."))
        stored = str(d.get("raw") or "")
        try:
            pretty = json.dumps(json.loads(stored), indent=1, ensure_ascii=False, sort_keys=True)
        except (ValueError, RecursionError):
            pretty = stored
        shown, cut = quote_text(pretty)
        if cut or int(d.get("raw_chars") or 0) > len(stored):
            shown += f"\n... (cut here: the store holds all {d.get('raw_chars') or len(stored)} characters)"
        sec.blocks.append(("subhead", "The payload as the platform returned it"))
        sec.blocks.append(("code", shown))
        sec.blocks.append(("subhead", "Recommended action"))
        sec.blocks.append(("list", ["Read the text above: if it is a comment that needs action (a threat, an "
                                    "allegation), act on it as for an escalation; it is not in the review queue.",
                                    "Find it on the platform from the post id.",
                                    "If such alerts keep coming, the platform has changed its format: tell whoever "
                                    "maintains this program (`school-monitor status` shows the count)."]))
    elif kind == "backfill":
        n = d.get("comments", "?")
        first = local_time(d.get("first_poll_at"), config) if d.get("first_poll_at") else "?"
        sec = Section(title=f"First run of {plat} account {account}: {n} earlier comment(s) assessed (alert {aid})")
        sec.blocks.append(("para", f"The first poll of {account} ({first}) read the comments of the last days. "
                                   f"Those posted more than {d.get('quiet_before_hours', 48):g} hours before it were "
                                   "assessed and counted (strikes, the weekly report, the review queue) but not "
                                   "emailed one by one; newer ones were alerted as usual."))
        cats = d.get("categories") or {}
        if cats:
            sec.blocks.append(("subhead", "Policy categories found"))
            sec.blocks.append(("list", [f"{key_words(k)}: {v}" for k, v in sorted(cats.items())]))
        items = list(d.get("items") or [])
        if items:
            sec.blocks.append(("subhead", f"Review items ({len(items)}, oldest first)"))
            shown = []
            for it in items[:200]:
                when = local_time(it.get("comment_created_at"), config) if it.get("comment_created_at") else "?"
                what = ", ".join(key_words(k) for k in it.get("categories") or []) or "-"
                shown.append(f"#{it.get('id')} {str(it.get('kind', '')).replace('_', ' ')}: {what}; {when}; "
                             f"{it.get('author_name') or it.get('author_id') or '?'}"
                             + (f" {it['permalink']}" if it.get("permalink") else ""))
            if len(items) > 200:
                shown.append(f"... and {len(items) - 200} more")
            sec.blocks.append(("list", shown))
        sec.blocks.append(("subhead", "Recommended action"))
        sec.blocks.append(("list", ["Read them in the review queue: school-monitor review list",
                                    "Escalations among them are older than the first poll: decide whether each "
                                    "still needs the DSL or LADO route (school-monitor review show ID)."]))
    else:
        sec = Section(title=f"{kind} (alert {aid})")
        sec.blocks.append(("para", a.get("summary") or ""))
    return sec


# --------------------------------------------------------------------------- renderers


def _text_section(sec: Section) -> str:
    out = [sec.title, "=" * min(len(sec.title), 72), ""]

    def facts(rows):
        for label, value, link in rows:
            one_line = " ".join(safe_text(value).split())  # a name with CR/LF stays on its line
            out.append(f"{label}: {isolate(one_line)}" + (f"\n    {safe_text(link)}" if link else ""))
        out.append("")

    if sec.facts:
        facts(sec.facts)
    for kind, payload in sec.blocks:
        if kind == "para":
            out += [safe_text(payload), ""]
        elif kind == "subhead":
            out += [safe_text(payload), "-" * len(payload)]
        elif kind == "facts":
            facts(payload)
        elif kind == "quote":
            text, cut = payload
            out.append("The comment, exactly as posted:")
            out += ["> " + isolate(line) for line in text.split("\n")]
            if cut:
                out.append(f"> [… {cut} more characters not shown; the full text is in the store]")
            out.append("")
        elif kind == "keys":
            for item in payload:
                out.append(f"* {item['text']}")
                out += [f"    - {isolate(s)}" for s in item["sub"]]
            out.append("")
        elif kind == "strikes":
            for item in payload:
                out.append(f"* {item['text']}")
                if item["quote"]:
                    out.append(f"    > {isolate(item['quote']).replace(chr(10), ' ')}")
                if item["link"]:
                    out.append(f"    {safe_text(item['link'])}")
            out.append("")
        elif kind == "list":
            out += [f"* {safe_text(x)}" for x in payload] + [""]
        elif kind == "code":
            out += ["    " + line for line in safe_text(payload).split("\n")] + [""]
    return "\n".join(out)


def _e(value: Any) -> str:
    return html.escape(safe_text(value), quote=True)


def is_web_url(url: Any) -> bool:
    """True when ``url`` (from a platform payload or the store) may become a link in HTML:
    it starts with ``http://`` or ``https://`` (lower case). Never a ``javascript:``,
    ``data:``, ``vbscript:`` or scheme-relative link. Used by the alert emails and the evidence
    bundle's ``summary.html``."""
    return bool(url) and re.match(r"https?://", safe_text(url)) is not None


def _link(url: str | None, label: str | None = None) -> str:
    if not url:
        return _e(label or "")
    u = safe_text(url)
    if not is_web_url(u):  # never a javascript: or data: link from a payload
        return _e(label or u)
    return f'<a href="{html.escape(u, quote=True)}">{_e(label or u)}</a>'


def _html_section(sec: Section) -> str:
    out = [f'<h2 style="font-size:18px;margin:16px 0 8px">{_e(sec.title)}</h2>']

    def facts(rows):
        out.append('<table style="border-collapse:collapse;margin:4px 0 8px">')
        for label, value, link in rows:
            val = f"<bdi>{_e(value)}</bdi>"
            if link:
                val += f"<br>{_link(link)}"
            out.append(f'<tr><th style="text-align:left;vertical-align:top;padding:2px 12px 2px 0">{_e(label)}</th>'
                       f'<td style="padding:2px 0">{val}</td></tr>')
        out.append("</table>")

    if sec.facts:
        facts(sec.facts)
    for kind, payload in sec.blocks:
        if kind == "para":
            out.append(f"<p>{_e(payload)}</p>")
        elif kind == "subhead":
            out.append(f'<h3 style="font-size:15px;margin:12px 0 4px">{_e(payload)}</h3>')
        elif kind == "facts":
            facts(payload)
        elif kind == "quote":
            text, cut = payload
            out.append('<p style="margin:8px 0 2px">The comment, exactly as posted:</p>')
            out.append('<blockquote dir="auto" style="white-space:pre-wrap;border-left:4px solid #c0392b;'
                       f'margin:0 0 8px;padding:6px 10px;background:#f8f8f8"><bdi>{_e(text)}</bdi></blockquote>')
            if cut:
                out.append(f"<p><em>… {cut} more characters not shown; the full text is in the store.</em></p>")
        elif kind == "keys":
            out.append("<ul>")
            for item in payload:
                subs = "".join(f"<li><bdi>{_e(s)}</bdi></li>" for s in item["sub"])
                out.append(f"<li><strong>{_e(item['text'])}</strong>" + (f"<ul>{subs}</ul>" if subs else "") + "</li>")
            out.append("</ul>")
        elif kind == "strikes":
            out.append("<ol>")
            for item in payload:
                q = f'<br><q dir="auto"><bdi>{_e(item["quote"])}</bdi></q>' if item["quote"] else ""
                lk = f"<br>{_link(item['link'])}" if item["link"] else ""
                out.append(f"<li>{_e(item['text'])}{q}{lk}</li>")
            out.append("</ol>")
        elif kind == "list":
            out.append("<ul>" + "".join(f"<li>{_e(x)}</li>" for x in payload) + "</ul>")
        elif kind == "code":
            out.append(f'<pre style="background:#f0f0f0;padding:6px 10px">{_e(payload)}</pre>')
    return "\n".join(out)


def _subject(alerts: Sequence[Mapping[str, Any]], config: Config, repeat: int) -> str:
    school = header_text(config.school.name or "School Social Monitor", 40)
    first = alerts[0]
    kind = first.get("kind")
    d = first["details"] if isinstance(first["details"], Mapping) else {}
    c = d.get("comment") or {}
    plat = platform_name(first.get("platform") or c.get("platform") or d.get("platform"))
    name = header_text(c.get("author_name") or (d.get("author") or {}).get("name") or first.get("author_id") or "",
                       MAX_SUBJECT_NAME_CHARS)
    cats = list(first["categories"])
    if len(alerts) > 1:
        kinds = {a.get("kind") for a in alerts}
        what = {"needs_review": "comments to review", "block_recommendation": "block recommendations"}
        label = what.get(kind, "alerts") if len(kinds) == 1 else "alerts"
        where = f"a {plat} post" if first.get("post_id") else f"{plat} account {first.get('account')}"
        text = f"{len(alerts)} {label} on {where}"
    elif kind == "escalation":
        more = f" (+{len(cats) - 1} more)" if len(cats) > 1 else ""
        text = f"ESCALATION: {key_words(cats[0]) if cats else 'escalation'}{more}, {plat} comment by {name}"
    elif kind == "block_recommendation":
        text = f"Block recommended: {name} on {plat}"
    elif kind == "needs_review":
        text = f"Comment to review: {plat} comment by {name}"
    elif kind in ("reconnect", "permission", "account_stale"):
        what = {"reconnect": "reconnect", "permission": "permission missing for",
                "account_stale": "not polled:"}[kind]
        text = f"ACTION NEEDED: {what} {plat} account {first.get('account') or d.get('account')}"
    elif kind == "read_budget":
        text = f"X read budget at {d.get('level')}% for {first.get('account') or d.get('account')}"
    elif kind == "quarantine":
        what = "post" if d.get("kind") == "post" else "comment"
        text = f"Unreadable {plat} {what} to read by hand (account {first.get('account') or d.get('account')})"
    else:
        text = f"{kind}: {first.get('summary') or ''}"
    prefix = f"Reminder {repeat}: " if repeat else ""
    return header_text(f"[{school}] {prefix}{text}", MAX_SUBJECT_CHARS)


def render_alert_message(alerts: list[dict], config: Config, store: Any = None, *, repeat: int = 0
                         ) -> EmailMessage:
    """Build the email for one alert or a group of alerts.

    :param alerts: ``alerts`` rows (JSON columns as text or decoded), one or more; a
        group shares a post (or an account) and its recipients.
    :param config: for the school's name and timezone, the policy's action table, the
        repeat interval and the sender address.
    :param store: when given, each comment alert also states the author's record in the
        store (:func:`author_history`); the alert rows carry everything else.
    :param repeat: 0 for the first sending, n for the n-th reminder of an escalation.
    :returns: a ``multipart/alternative`` :class:`EmailMessage` (text/plain and text/html,
        UTF-8) with ``Subject``, ``From``, ``Auto-Submitted: auto-generated`` and
        ``X-School-Monitor-Alerts`` (the alert ids) set. The outbox adds ``To``, ``Date``
        and ``Message-ID``.
    :raises ValueError: when ``alerts`` is empty.
    """
    if not alerts:
        raise ValueError("render_alert_message needs at least one alert")
    rows = [decode_alert(a) for a in alerts]
    sections = []
    for a in rows:
        d = a["details"] if isinstance(a["details"], Mapping) else {}
        c = d.get("comment") if isinstance(d.get("comment"), Mapping) else {}
        try:
            at = parse_time(str(a.get("created_at")))
        except ValueError:
            at = None
        history = author_history(store, a.get("author_id"), c.get("comment_id"), config, at) if c and at else None
        sections.append(alert_section(a, config, history))
    school = config.school.name or "School Social Monitor"
    tzname = config.school.timezone
    intro = (f"{school}: {len(rows)} alerts from School Social Monitor (times in {tzname})." if len(rows) > 1
             else f"{school}: an alert from School Social Monitor (times in {tzname}).")
    if repeat:
        intro = f"REMINDER {repeat}: this escalation has not been acknowledged yet. " + intro
    text = "\n\n".join([safe_text(intro)] + [_text_section(s) for s in sections])
    text += "\n-- \nSchool Social Monitor. Replies to this email are not read; use the commands above.\n"
    body = "\n<hr>\n".join(_html_section(s) for s in sections)
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>"
            '<body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#222;max-width:760px">'
            f"<p>{_e(intro)}</p>\n{body}\n"
            '<p style="color:#777;font-size:12px">School Social Monitor. Replies to this email are not read; '
            "use the commands above.</p></body></html>\n")
    msg = EmailMessage()
    msg["Subject"] = _subject(rows, config, repeat)
    msg["From"] = from_header(config)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-School-Monitor-Alerts"] = ",".join(str(a.get("id", "")) for a in rows)
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(page, subtype="html", charset="utf-8")
    return msg


def render_fallback_message(alerts: list[dict], config: Config, error: BaseException, *, repeat: int = 0
                            ) -> EmailMessage:
    """A plain-text email for alerts :func:`render_alert_message` failed on (a bug), so
    that they still reach someone: kind, ids, policy keys, the one-line summary and the
    commands to see the full item. Only sanitised fields are used."""
    rows = [decode_alert(a) for a in alerts]
    school = config.school.name or "School Social Monitor"
    lines = [f"{school}: {len(rows)} alert(s) that could not be shown in full "
             f"({type(error).__name__}; see the monitor's log). Look at each with the commands below.", ""]
    for a in rows:
        cats = ", ".join(f"{key_words(k)} [{k}]" for k in a["categories"])
        lines += [f"Alert {a.get('id')}: {a.get('kind')}" + (f": {cats}" if cats else ""),
                  f"    {header_text(a.get('summary') or '', 300)}",
                  f"    {SHOW_COMMAND.format(id=a.get('id'))}", f"    {ACK_COMMAND.format(id=a.get('id'))}", ""]
    msg = EmailMessage()
    kind = rows[0].get("kind") if rows else "alert"
    prefix = f"Reminder {repeat}: " if repeat else ""
    msg["Subject"] = header_text(f"[{header_text(school, 40)}] {prefix}{str(kind).upper()}: "
                                 f"{len(rows)} alert(s), see school-monitor review")
    msg["From"] = from_header(config)
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-School-Monitor-Alerts"] = ",".join(str(a.get("id", "")) for a in rows)
    msg.set_content("\n".join(lines), subtype="plain", charset="utf-8")
    return msg


def from_header(config: Config) -> str:
    """``School Social Monitor <sender>``, the display name MIME-encoded by the policy."""
    sender = config.alerts.sender
    try:
        local, domain = sender.rsplit("@", 1)
        return str(Address(display_name="School Social Monitor", username=local, domain=domain))
    except ValueError:
        return sender


def sender_domain(config: Config) -> str:
    """The domain of ``[alerts] sender`` (for Message-IDs), ``localhost`` if none."""
    sender = config.alerts.sender
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "localhost"
    return re.sub(r"[^A-Za-z0-9.-]", "", domain) or "localhost"


__all__ = ["render_alert_message", "render_fallback_message", "alert_to_json", "recipients_for", "route_roles", "role_addresses",
           "decode_alert", "author_history", "header_text", "safe_text", "local_time", "block_instructions", "alert_section",
           "sender_domain", "PLATFORM_NAMES", "ESCALATION_ACTIONS"]
