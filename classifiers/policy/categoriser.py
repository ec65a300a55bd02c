"""The policy categoriser: a comment and its toxicity scores to the eleven policy keys.

Pure (no I/O after construction). Definitions and the conventions for hard cases are
those of the Libra policy categories (``categories.md``): in short

* ``allegation_*``: a harmful or improper act claimed of staff / pupils, including
  hedged insinuations that name an act (convention 3);
* ``defamatory_*``: dishonesty, crime, cruelty or unfitness asserted as fact: branding
  words (thief, drunk, fraud, cover-up) or an allegation passed on second-hand; a
  parent's first-hand report about their own child is an allegation only (convention 2);
* ``offensive_*``: insults or mockery aimed at staff / pupils; insults at other parents
  carry no key (convention 4); harsh words about the institution stay
  ``complaint_school`` (convention 1);
* ``complaint_*``: dissatisfaction without insult or allegation against that target;
* ``racist_homophobic``: slurs (masked too) or identity-based hostility, whoever the
  target; quoting to report is not counted (convention 7);
* ``threat_violence``: threats, incitement, literal wishes of harm; idioms removed first
  (convention 6);
* ``image_of_staff``: an image/video attachment plus a staff reference, never from the
  school's own accounts (conventions 5 and 8).

Words and patterns are lexicon data (:mod:`classifiers.policy.lexicon`); the Detoxify
scores (``insult``, ``threat``, ``identity_attack``, ``toxicity``) over the configured
``[policy.thresholds]`` add evidence and catch what the words miss.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

from monitor.config import Config
from monitor.domain import POLICY_KEYS, Assessment, Comment, Evidence, Scores

from classifiers.policy.lexicon import Lexicon, load_lexicon, normalise
from classifiers.policy.targets import Mention, TargetMatcher

_PRONOUN_SUBJ = re.compile(r"\b(he|she|he's|she's|hes|shes|him|her|his|they|them)\b")
_NEGATION = re.compile(r"(\b(not|never|no|nobody|didn'?t|doesn'?t|don'?t|wasn'?t|isn'?t|hasn'?t|haven'?t|wouldn'?t|won'?t|cannot|can'?t)\b|n't)\W*(\w+\W+){0,2}$")
_THING_AFTER = re.compile(r"\s+(rumou?rs?|messages?|comments?|things?|lies|behaviou?r|attitude|food|dinners?|weather|"
                         r"system|policy|decision|idea|parking|traffic|service|situation|emails?|letters?|posts?|"
                         r"stuff|words|language|names|menu|website|app|rules?|car|cars|price|prices|costs?|budget)\b")
_FIRST_PERSON = re.compile(r"\b(me|us|my|our|moj|moja|mojego|mojej|mnie|meu|mea|mele|mine|mera|meri|mere|mujhe|hamare|hamari)\b")
_HYPOTHETICAL = re.compile(r"\b(if|unless|in case|should (he|she|they|any))\b[^,.;]{0,60}$")
_WISH = re.compile(r"\b(to|'ll|will|would|should|gonna|wanna|could|might|shall)\s+$")
_LAUGH = re.compile(r"(😂|🤣|😆|😅|\blol\b|\blmao\b|\bhaha)")
_SENT_SPLIT = re.compile(r"(?<!\bmr)(?<!\bmrs)(?<!\bms)(?<!\bdr)(?:[.!?]+(?=\s|$)|\n+)")


@dataclass
class _Hit:
    section: str
    entry: str
    start: int
    end: int


class Categoriser:
    """Maps ``(comment, scores)`` to an :class:`~monitor.domain.Assessment`.

    Built once per config: compiles the roster matchers from ``config.staff`` and
    ``config.school`` and loads the shipped lexicons plus ``config.policy.lexicon_files``
    and the inline ``config.policy.lexicon``.

    :raises classifiers.policy.lexicon.LexiconError: a lexicon file is missing or malformed.
    """

    def __init__(self, config: Config, lexicon: Lexicon | None = None):
        self.config = config
        self.policy = config.policy
        self.lexicon = lexicon or load_lexicon(config.policy.lexicon_files, config.policy.lexicon)
        self.targets = TargetMatcher(config, self.lexicon)
        self.own_accounts = frozenset(config.school.own_accounts)
        self._post_cache: dict[str, Mention | None] = {}

    # ------------------------------------------------------------------ public
    def assess(self, comment: Comment, scores: Scores) -> Assessment:
        """Categorise one comment.

        :param comment: the comment (text, attachments, author_id are used).
        :param scores: its toxicity scores; ``scores.readable`` False routes it to a
            person (``needs_review``) while keys found by the lexicons are still given.
        :returns: categories in :data:`~monitor.domain.POLICY_KEYS` order, evidence per
            key, ``escalate`` per ``policy.escalate_keys``, ``strikes`` per
            ``policy.strike_keys`` (never a complaint), ``counted`` False for the
            school's own accounts.
        """
        if comment.author_id in self.own_accounts:
            return Assessment(counted=False, review_reasons=())
        ev = _Collector()
        self._categorise(comment, scores, ev)
        cats = tuple(k for k in POLICY_KEYS if ev.has(k))
        needs_review = not scores.readable
        reasons: list[str] = []
        if needs_review:
            lang = scores.language or "undetermined"
            reasons.append(f"language {lang}: the scorer cannot read it, so a person must check it"
                           + (" (keys given come from the word lists only)" if cats else ""))
        return Assessment(
            categories=cats,
            evidence={k: tuple(ev.items[k]) for k in cats},
            escalate=any(k in self.policy.escalate_keys for k in cats),
            strikes=tuple(k for k in cats if k in self.policy.strike_keys and not k.startswith("complaint_")),
            needs_review=needs_review,
            review_reasons=tuple(reasons),
            counted=True,
        )

    # ------------------------------------------------------------------ internals
    def _post_staff(self, comment: Comment) -> Mention | None:
        """The one roster member the school's post names, if exactly one (context for
        "he"/"she" in comments under it)."""
        if not comment.post_text:
            return None
        if comment.post_text in self._post_cache:
            return self._post_cache[comment.post_text]
        found = [m for m in self.targets.find(comment.post_text) if m.kind == "staff" and m.staff]
        people = {m.staff for m in found}
        result = None
        if len(people) == 1:
            result = Mention("staff", 0, 0, found[0].surface, found[0].staff, "named in the school's post")
        if len(self._post_cache) > 1000:
            self._post_cache.clear()
        self._post_cache[comment.post_text] = result
        return result

    def _hits(self, section: str, norm: str) -> list[_Hit]:
        out = []
        for e, m in self.lexicon[section].finditer(norm):
            # a pattern may mark the act itself with (?P<act>...): its position is the hit's
            start = m.start("act") if "act" in m.re.groupindex and m.start("act") >= 0 else m.start()
            out.append(_Hit(section, e, start, m.end()))
        return out

    def _categorise(self, comment: Comment, scores: Scores, ev: "_Collector") -> None:
        text = comment.text or ""
        norm = normalise(text)
        mentions = self.targets.find(text, norm)
        sents = _sentences(norm)
        th = self.policy.thresholds
        # idioms are blanked out before threats and insults are looked for
        idiom_spans = [(h.start, h.end) for h in self._hits("idiom", norm)]
        masked = _blank(norm, idiom_spans)
        reporting = self._hits("reporting", norm)
        defence_sents = {_sent_of(sents, h.start) for h in self._hits("defence", norm)}
        hedge_hits = self._hits("hedge", norm)
        hedged_sents = {_sent_of(sents, h.start) for h in hedge_hits}
        hedged_comment = bool(hedge_hits)
        assertion = self._hits("assertion", norm)
        staff_mentions = [m for m in mentions if m.kind == "staff"]
        own_child = [m for m in mentions if m.kind == "own_child"]
        addressed_parent = any(m.kind == "parent" and m.how == "reply to" for m in mentions)
        post_staff = self._post_staff(comment)

        def reported(h: _Hit) -> bool:
            """The words are quoted in order to report them (convention 7)."""
            for r in reporting:
                if r.end <= h.start and h.start - r.end <= 25 and _sent_of(sents, r.start) == _sent_of(sents, h.start):
                    return True
            before = norm[max(0, h.start - 2):h.start]
            after = norm[h.end:h.end + 2]
            quoted = ("'" in before or '"' in before) and ("'" in after or '"' in after)
            return quoted and any(_sent_of(sents, r.start) == _sent_of(sents, h.start) for r in reporting)

        def target(h: _Hit, kinds: tuple[str, ...], prefer_before: bool = True, pronoun: bool = True,
                   only_before: bool = False, carry: bool = False, prefer_person: bool = False,
                   carry_roles: bool = True, strictly_before: bool = False) -> Mention | None:
            """The mention a cue is aimed at: nearest in the same sentence (before it
            preferred); with ``carry``, a cue opening its sentence ("Clown can't even...")
            or a sentence with no mention looks back to the previous sentence; else a
            pronoun resolved to the last staff mention in the comment, or to the one
            staff member the school's post names."""
            si = _sent_of(sents, h.start)
            best, best_d = None, 10 ** 9
            persons_first = prefer_person and any(
                _sent_of(sents, m.start) == si and m.end <= h.start and m.kind in ("staff", "pupil", "parent", "own_child")
                for m in mentions)
            for m in mentions:
                if _sent_of(sents, m.start) != si:
                    continue
                if only_before and m.start >= (h.start if strictly_before else h.end):
                    continue
                if persons_first and m.kind in ("school", "other_school"):
                    continue
                if m.end <= h.start:
                    d = h.start - m.end
                elif m.start >= h.end:
                    d = (m.start - h.end) * (2 if prefer_before else 1) + 1
                else:
                    d = 0
                if d < best_d:
                    best, best_d = m, d
            s0, s1 = sents[si]
            opens = not norm[s0:h.start].strip(" \t\n\"'@")
            if carry and si > 0 and (best is None or (opens and best.start >= h.end)):
                prev = [m for m in mentions if _sent_of(sents, m.start) == si - 1 and m.kind in ("staff", "pupil")
                        and (carry_roles or m.how != "role")]
                if prev:
                    return prev[-1] if prev[-1].kind in kinds else None
            if best is not None:
                return best if best.kind in kinds else None
            if pronoun and "staff" in kinds and _PRONOUN_SUBJ.search(norm[s0:s1]):
                if staff_mentions:
                    prior = [m for m in staff_mentions if m.start < h.start] or staff_mentions
                    return prior[-1]
                if post_staff and not any(m.kind in ("pupil", "own_child", "parent") for m in mentions):
                    return post_staff
            return None

        # ---- racist_homophobic -------------------------------------------------
        racist_spans: list[_Hit] = []
        for h in self._hits("slur", norm):
            if reported(h):
                continue
            racist_spans.append(h)
            ev.add("racist_homophobic", "lexicon", f'slur "{text[h.start:h.end]}"', (h.start, h.end))
        for h in self._hits("identity_hostility", norm):
            if reported(h):
                continue
            racist_spans.append(h)
            ev.add("racist_homophobic", "pattern", f'identity-based hostility "{text[h.start:h.end]}"', (h.start, h.end))
        ia, tox = scores.get("identity_attack"), scores.get("toxicity")
        if ia >= th.get("identity_attack", 0.5) and tox >= th.get("toxicity", 0.5) and self._hits("identity_term", norm) \
                and not reporting:
            ev.add("racist_homophobic", "score", "identity attack score with an identity term",
                   label="identity_attack", score=ia, threshold=th.get("identity_attack", 0.5))
        if racist_spans and not addressed_parent:
            for h in racist_spans:
                t = target(h, ("staff", "pupil"), only_before=True)
                if t is None:  # "Go back to X Miss Begum": a staff member named after it
                    after = [m for m in mentions if m.kind == "staff" and m.start >= h.end
                             and _sent_of(sents, m.start) == _sent_of(sents, h.start)]
                    t = after[0] if after else None
                if t is not None and t.start > h.start + 2 and t.end <= h.end:
                    t = None  # a pupil inside the hostile phrase is its object, not its target
                if t is None or (t.kind == "pupil" and _object_of_teaching(norm, t)):
                    inside = [m for m in mentions if h.start <= m.start <= h.start + 2 and m.kind == "pupil"
                              and not _object_of_teaching(norm, m)]
                    t = inside[0] if inside else None
                if t is not None:
                    key = "offensive_staff" if t.kind == "staff" else "offensive_pupil"
                    ev.add(key, "target", t.describe(), (t.start, t.end))
                    ev.add(key, "pattern", f'identity-based hostility aimed at {t.kind}: "{text[h.start:h.end]}"', (h.start, h.end))

        # ---- threat_violence ---------------------------------------------------
        threat_hits = self._hits("threat", masked)
        hyperbole = self._hits("own_child_hyperbole", masked)
        others = [m for m in mentions if m.kind in ("staff", "pupil", "school")]
        for h in threat_hits:
            if any(x.start <= h.start < x.end or h.start <= x.start < h.end for x in hyperbole) and not others \
                    and (own_child or _LAUGH.search(norm[max(0, h.start - 60):h.end + 40])):
                continue  # "I'll kill him" of one's own child, laughing (convention 6)
            if _NEGATION.search(masked[max(0, h.start - 30):h.start]) and not re.search(r"\b(won'?t|wouldn'?t|not) be (walking|leaving)", masked[h.start - 10:h.end]):
                continue
            ev.add("threat_violence", "pattern", f'threat or wish of harm: "{text[h.start:h.end]}"', (h.start, h.end))
        # lying in wait: "I'll be waiting at the gates for him / for Mr X"
        for m in re.finditer(r"\b(i'?ll|i will|we'?ll|we will|i'?m gonna) be waiting\b", masked):
            s0, s1 = sents[_sent_of(sents, m.start())]
            rest = masked[m.end():s1]
            victim = [x for x in mentions if m.end() <= x.start < s1 and x.kind in ("staff", "pupil", "parent")]
            if victim and re.search(r"\bfor\b", masked[m.end():victim[0].start]) or \
                    re.search(r"\bfor (him|her|them)\b", rest):
                ev.add("threat_violence", "pattern", f'lying in wait: "{text[m.start():s1].strip()}"', (m.start(), s1))
        thr = scores.get("threat")
        if thr >= th.get("threat", 0.5) and not idiom_spans and (mentions or _PRONOUN_SUBJ.search(norm)):
            ev.add("threat_violence", "score", "threat score over threshold", label="threat", score=thr,
                   threshold=th.get("threat", 0.5))

        # ---- offensive_* (insults, mockery) ------------------------------------
        for section in ("insult", "mockery"):
            for h in self._hits(section, masked):
                if reported(h) or _THING_AFTER.match(masked, h.end):
                    continue  # "vile rumours", "useless system": about a thing, not a person
                t = target(h, ("staff", "pupil", "school", "own_child", "parent", "other_school"), carry=True,
                           prefer_person=section == "insult")
                if t is None or (addressed_parent and t.kind != "staff"):
                    continue
                if t.kind in ("staff", "pupil"):
                    if section == "mockery" and not _mocking_context(norm, h, t):
                        continue
                    if t.kind == "pupil" and _in_other_school(mentions, t):
                        continue
                    key = "offensive_staff" if t.kind == "staff" else "offensive_pupil"
                    ev.add(key, "target", t.describe(), (t.start, t.end))
                    ev.add(key, "lexicon", f'{section} "{text[h.start:h.end]}" aimed at {t.kind}', (h.start, h.end))
                elif t.kind == "school" and section == "insult":
                    ev.add("complaint_school", "target", t.describe(), (t.start, t.end))
                    ev.add("complaint_school", "lexicon", f'harsh words about the school "{text[h.start:h.end]}" (no offensive_school key)', (h.start, h.end))
        ins = scores.get("insult")
        if ins >= th.get("insult", 0.5) and not ev.has("offensive_staff") and not addressed_parent:
            named = [m for m in staff_mentions if m.how != "role" or m.staff]
            praise = self._hits("praise", norm)
            if named and not praise:
                t = named[0]
                ev.add("offensive_staff", "target", t.describe(), (t.start, t.end))
                ev.add("offensive_staff", "score", "insult score with a staff target", label="insult",
                       score=ins, threshold=th.get("insult", 0.5))

        # ---- allegations --------------------------------------------------------
        for h in self._hits("staff_act", masked) + self._hits("harm_sign", masked):
            si = _sent_of(sents, h.start)
            if si in defence_sents or _NEGATION.search(norm[max(0, h.start - 25):h.start]):
                continue
            if _WISH.search(norm[max(0, h.start - 20):h.start]):
                continue  # "wants to slap", "I'll grab": a wish or threat, not a claim
            if _HYPOTHETICAL.search(norm[sents[si][0]:h.start]) and "again" not in norm[h.end:h.end + 50]:
                continue  # "if any teacher laid a finger on my kid...": hypothetical
            if h.section == "harm_sign":
                actor = staff_mentions[-1] if staff_mentions else None
            else:
                actor = _actor(norm, mentions, sents, h, staff_mentions)
            if actor is None and h.section == "staff_act" and comment.attachments and \
                    any(a.is_image_or_video for a in comment.attachments) and self._hits("image_ref", norm):
                actor = Mention("staff", h.start, h.start, "(person in the attached image)", (), "image reference")
            if actor is None or actor.kind != "staff":
                continue
            ev.add("allegation_staff", "target", actor.describe(), (actor.start, actor.end) if actor.end > actor.start else None)
            ev.add("allegation_staff", "lexicon", f'act "{text[h.start:h.end]}"', (h.start, h.end))
        for h in self._hits("pupil_act", masked):
            si = _sent_of(sents, h.start)
            if si in defence_sents or _NEGATION.search(norm[max(0, h.start - 20):h.start]):
                continue
            actor = _actor(norm, mentions, sents, h, [], passive_ok=True)
            if actor is None or actor.kind != "pupil" or _in_other_school(mentions, actor):
                continue
            ev.add("allegation_pupil", "target", actor.describe(), (actor.start, actor.end))
            ev.add("allegation_pupil", "lexicon", f'act "{text[h.start:h.end]}"', (h.start, h.end))

        # ---- defamatory ---------------------------------------------------------
        if ev.has("allegation_staff"):
            act_sents = {_sent_of(sents, e.span[0]) for e in ev.items["allegation_staff"] if e.kind == "lexicon" and e.span}
            hedged = bool(act_sents) and act_sents <= hedged_sents or (hedged_comment and not assertion)
            act_text = " ".join(norm[sents[i][0]:sents[i][1]] for i in act_sents)
            first_hand = (bool(own_child) or _FIRST_PERSON.search(act_text) is not None) and not assertion
            if not hedged and (assertion or not first_hand):
                why = f'presented as fact ("{text[assertion[0].start:assertion[0].end]}")' if assertion else \
                    "claimed of staff by a third party, not a first-hand report about own child"
                ev.add("defamatory_staff", "pattern", why)
                for e in ev.items["allegation_staff"]:
                    ev.items["defamatory_staff"].append(Evidence("defamatory_staff", e.kind, e.detail, e.span))
        for h in self._hits("branding", norm):
            si = _sent_of(sents, h.start)
            if si in hedged_sents or si in defence_sents or _NEGATION.search(norm[max(0, h.start - 12):h.start]):
                continue
            t = target(h, ("staff",), only_before=True, strictly_before=True)
            if t is None:
                continue
            ev.add("defamatory_staff", "target", t.describe(), (t.start, t.end))
            ev.add("defamatory_staff", "lexicon", f'branding "{text[h.start:h.end]}" asserted of staff', (h.start, h.end))
        for h in self._hits("school_wrong", norm):
            si = _sent_of(sents, h.start)
            if si in hedged_sents or si in defence_sents or _NEGATION.search(norm[max(0, h.start - 20):h.start]):
                continue
            s0, s1 = sents[si]
            school_in_sent = [m for m in mentions if m.kind == "school" and s0 <= m.start < s1]
            before = [m for m in mentions if m.kind in ("staff", "school") and m.end <= h.start and m.start >= s0]
            they = re.search(r"\b(they|them|their|they'?ve|they'?re)\b", norm[s0:s1]) is not None
            school_named = any(m.kind == "school" for m in mentions)
            if school_in_sent or (not before and not any(m.kind == "staff" and s0 <= m.start < s1 for m in mentions)
                                  and (they or school_named)):
                ev.add("defamatory_school", "target", school_in_sent[0].describe() if school_in_sent else
                       "the school (the institution the page belongs to)",
                       (school_in_sent[0].start, school_in_sent[0].end) if school_in_sent else None)
                ev.add("defamatory_school", "lexicon", f'wrongdoing by the school asserted: "{text[h.start:h.end]}"', (h.start, h.end))

        # ---- complaints ----------------------------------------------------------
        complaint_hits = [h for h in self._hits("complaint", norm) if not reported(h)]
        praise_n = len(self._hits("praise", norm))
        if complaint_hits and not (praise_n > len(complaint_hits) and " but " not in norm):
            for h in complaint_hits:
                t = target(h, ("staff", "school", "pupil", "own_child", "parent", "other_school"), carry=True,
                           carry_roles=False)
                if t is not None and t.kind == "staff":
                    ev.add("complaint_staff", "target", t.describe(), (t.start, t.end))
                    ev.add("complaint_staff", "lexicon", f'dissatisfaction "{text[h.start:h.end]}"', (h.start, h.end))
                elif t is None or t.kind in ("school", "pupil", "own_child"):
                    if addressed_parent and t is None and not any(m.kind == "school" for m in mentions) and len(complaint_hits) < 2:
                        continue
                    ev.add("complaint_school", "lexicon", f'dissatisfaction "{text[h.start:h.end]}"', (h.start, h.end))
                    if t is not None and t.kind == "school":
                        ev.add("complaint_school", "target", t.describe(), (t.start, t.end))
        # the school is only the default target: a complaint that names staff and not
        # the school is about the staff
        if ev.has("complaint_staff") and not any(e.kind == "target" for e in ev.items["complaint_school"]):
            ev.drop("complaint_school")
        # convention 1: no complaint against a target also insulted or accused
        if ev.has("offensive_staff") or ev.has("allegation_staff") or ev.has("defamatory_staff") \
                or ev.has("racist_homophobic") or ev.has("threat_violence"):
            ev.drop("complaint_staff")
        if ev.has("defamatory_school") or ev.has("offensive_staff") or ev.has("defamatory_staff") \
                or ev.has("allegation_staff") or ev.has("racist_homophobic") or ev.has("threat_violence"):
            ev.drop("complaint_school")

        # ---- image_of_staff -------------------------------------------------------
        media = [a for a in comment.attachments if a.is_image_or_video]
        if media:
            objects = self._hits("image_object", norm)
            refs = []
            for m in staff_mentions:
                if any(0 <= o.start - m.end <= 12 for o in objects):
                    continue  # "the office manager's car": the photo shows a thing
                refs.append(m)
            image_refs = [h for h in self._hits("image_ref", norm)
                          if not any(0 <= o.start - h.end <= 12 for o in objects)]
            if refs or image_refs:
                ev.add("image_of_staff", "attachment", f"{len(media)} {media[0].type} attachment(s) posted by {comment.author_id}, not a school account")
                for m in refs[:3]:
                    ev.add("image_of_staff", "target", m.describe(), (m.start, m.end))
                for h in image_refs[:2]:
                    ev.add("image_of_staff", "pattern", f'said to show staff: "{text[h.start:h.end]}"', (h.start, h.end))


class _Collector:
    """Evidence per key, deduplicated, in insertion order."""

    def __init__(self) -> None:
        self.items: dict[str, list[Evidence]] = OrderedDict((k, []) for k in POLICY_KEYS)

    def add(self, key: str, kind: str, detail: str, span: tuple[int, int] | None = None,
            label: str | None = None, score: float | None = None, threshold: float | None = None) -> None:
        e = Evidence(key=key, kind=kind, detail=detail, span=span, label=label, score=score, threshold=threshold)
        if e not in self.items[key]:
            self.items[key].append(e)

    def has(self, key: str) -> bool:
        return any(e.kind != "target" for e in self.items[key])

    def drop(self, key: str) -> None:
        self.items[key] = []


def _sentences(norm: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for m in _SENT_SPLIT.finditer(norm):
        if m.end() > start:
            out.append((start, m.end()))
            start = m.end()
    if start < len(norm) or not out:
        out.append((start, len(norm)))
    return out


def _sent_of(sents: list[tuple[int, int]], pos: int) -> int:
    for i, (a, b) in enumerate(sents):
        if a <= pos < b:
            return i
    return len(sents) - 1


def _blank(norm: str, spans: list[tuple[int, int]]) -> str:
    chars = list(norm)
    for a, b in spans:
        for i in range(a, b):
            chars[i] = " "
    return "".join(chars)


def _in_other_school(mentions: list[Mention], m: Mention) -> bool:
    """A pupil mention next to another school's name ("St Mark's lot", "the kids from
    St Bede's", "the girl in goal for the other side"): not a pupil of this school."""
    return any(o.kind == "other_school" and (0 <= m.start - o.end <= 25 or 0 <= o.start - m.end <= 40)
               for o in mentions)


def _object_of_teaching(norm: str, m: Mention) -> bool:
    """Pupils as the object of "teaching/making/telling" are not the target of hostility."""
    return re.search(r"\b(teaching|teach|teaches|making|make|telling|tell|forcing)\s+(\w+\s+)?$", norm[max(0, m.start - 30):m.start]) is not None


def _mocking_context(norm: str, h: _Hit, t: Mention) -> bool:
    """Mockery words like "lol" only count when close to the target."""
    if h.entry in ("lol", "lmao", "bless him", "bless her"):
        return abs(h.start - t.end) <= 60 and t.kind == "pupil"
    return True


def _actor(norm: str, mentions: list[Mention], sents: list[tuple[int, int]], h: _Hit,
           staff_mentions: list[Mention], passive_ok: bool = False) -> Mention | None:
    """Who did the act: for a passive ("was called ... by two boys") the mention after
    "by"; else the nearest mention before the act in its sentence; else a subject
    pronoun resolved to the last staff mention."""
    si = _sent_of(sents, h.start)
    s0, s1 = sents[si]
    passive = re.search(r"\b(been|was|were|got|gets|being|is|are)\s+(\w+\s+)?$", norm[max(s0, h.start - 20):h.start]) \
        or re.match(r"(been|was|were|got|gets|being)\b", norm[h.start:h.end])
    if passive_ok and passive:
        by = re.search(r"\bby\b", norm[h.end:s1])
        if by:
            after = [m for m in mentions if m.start >= h.end + by.end()]
            if after:
                return after[0]
    before = [m for m in mentions if s0 <= m.start and m.end <= h.start]
    # Roman Urdu marks the doer with "ne" ("us TA ne ... dhakka diya")
    agents = [m for m in before if re.match(r"\s+ne\b", norm[m.end:m.end + 4])]
    if agents:
        return agents[-1]
    if before:
        return before[-1]
    # a subject pronoun just before the act ("he grabbed", "she's been")
    if re.search(r"\b(he|she|he's|she's|hes|shes|they)\s+(\w+\s+){0,3}$", norm[max(s0, h.start - 30):h.start]) and staff_mentions:
        prior = [m for m in staff_mentions if m.start < h.start] or staff_mentions
        return prior[-1]
    # a mention inside the hit is its doer when the hit opens with it, or when it is staff
    # ("...PTA money is sitting in the head's own bank account"); else it is the object
    inside = [m for m in mentions if m.start >= h.start and m.end <= h.end and (m.start == h.start or m.kind == "staff")]
    if inside:
        return inside[0]
    after = [m for m in mentions if m.start >= h.end and m.start < s1 and m.kind in ("staff", "pupil")]
    if after and re.match(r"\s*(by|from)\b", norm[h.end:after[0].start] or " "):
        return after[0]
    return None
