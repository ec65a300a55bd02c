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

Allegations are found as an act (``staff_act`` / ``pupil_act``: verbs in any tense, with
the person they were done to) and its doer: the mention after "by" for a passive, else the
nearest subject before it (a child named after a verb or preposition is the object), else
a pronoun resolved to staff. Acts that at school only staff do (``care_act``: restrained,
locked in a room) imply staff when no other doer is named; acts that are by default other
pupils' (``peer_act``: bullied, bitten) imply pupils.
A branding label ("X is a drunk") is not an act on an occasion (defamatory only). A named
second-hand source (``second_hand``: "a friend who works there said") makes an allegation
defamatory even when hedged, unless it is put as a question. An unmet expectation
(``unmet``: "never replies", "didn't grit the path") is a complaint only when its subject is
staff or the school; a complaint word in the clause of a pupil's act or insult is about the
pupils, not the school.

Time is linear in the text length: sentences and mentions are indexed once (bisect), each
look-around is bounded, and evidence is capped at :data:`MAX_EVIDENCE_PER_KEY` per key.

Words and patterns are lexicon data (:mod:`classifiers.policy.lexicon`); the Detoxify
scores (``insult``, ``threat``, ``identity_attack``, ``toxicity``) over the configured
``[policy.thresholds]`` add evidence and catch what the words miss.
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from monitor.config import Config
from monitor.domain import POLICY_KEYS, Assessment, Comment, Evidence, Scores

from classifiers.normalise import fold
from classifiers.policy.lexicon import Lexicon, load_lexicon, normalise
from classifiers.policy.targets import Mention, TargetMatcher

#: The packaged learned escalation reviewer (see its MODEL_CARD.md).
ESCALATION_MODEL_DIR = Path(__file__).resolve().parent / "escalation_model"

_WORDS = re.compile(r"[^\W_]")
_PRONOUN_SUBJ = re.compile(r"\b(he|she|he's|she's|hes|shes|him|her|his|they|them)\b")
_NEGATION = re.compile(r"(\b(not|never|no|nobody|didn'?t|doesn'?t|don'?t|wasn'?t|isn'?t|hasn'?t|haven'?t|wouldn'?t|won'?t|cannot|can'?t)\b|n't)\W*(\w+\W+){0,2}$")
_THING_AFTER = re.compile(r"\s+(rumou?rs?|messages?|comments?|things?|lies|behaviou?r|attitude|food|dinners?|weather|"
                         r"system|policy|decision|idea|parking|traffic|service|situation|emails?|letters?|posts?|"
                         r"stuff|words|language|names|menu|website|app|rules?|car|cars|price|prices|costs?|budget)\b")
_FIRST_PERSON = re.compile(r"\b(i|i'?m|i'?ve|i'?d|me|us|my|our|moj|moja|mojego|mojej|mnie|meu|mea|mele|mine|mera|meri|mere|mujhe|hamare|hamari)\b")
_HYPOTHETICAL = re.compile(r"\b(if|unless|in case|should (he|she|they|any))\b[^,.;]{0,60}$")
_WISH = re.compile(r"\b(to|'ll|will|would|should|gonna|wanna|could|might|shall)\s+$")
_LAUGH = re.compile(r"(😂|🤣|😆|😅|\blol\b|\blmao\b|\bhaha)")
_SENT_SPLIT = re.compile(r"(?<!\bmr)(?<!\bmrs)(?<!\bms)(?<!\bdr)(?:[.!?]+(?=\s|$)|\n+)")
_BY_PUPIL = re.compile(r"\s*[^.!?]{0,40}?\bby (a|an|the|some|two|three|another|other|older|bigger|one of the|this|that) ?(\w+ ){0,2}(boy|girl|kid|child|pupil|lad|lads|boys|girls|kids|children|pupils|students?)s?\b")
_REMEDY = re.compile(r"\b(sort|sorts|sorting|sorted|deal|deals|dealt|dealing|tackle|tackled|tackling|stop|stops|stopped|stopping|handle|handled|handling|report|reported|reporting|prevent|prevented|anti)\b( \w+)?( out| with)?( the| this| that| all the| any)?\s*$")
_PASSIVE_BEFORE = re.compile(r"\b(been|was|were|got|gets|get|being|is|are)\s+(\w+\s+)?$")
_BY = re.compile(r"\bby\b")
_CHILD_WORD = re.compile(r"\b(he|she|him|her|they|them|my|our|his|child|children|kids?|boy|girl|pupils?|toddler|baby)\b")
_NON_PERSON_SUBJECT = re.compile(r"\b(it|that|this|which)\s+$")
_SHARE_BEFORE = re.compile(r"\b(half|most|some|all|none|loads|lots|a lot|a few|many) (of )?(the )?$")
_BACK_REF = re.compile(r"that (woman|man|bloke|fella|lady)")
_ONE_PERSON_BEFORE = re.compile(r"\b(the|a|an|that|this)\s+[a-z]+\s+$")
_SINGULAR_PRONOUN = re.compile(r"\b(he|she|him|her|his|hers|he'?s|she'?s)\b")
_TEACHING_AFTER = re.compile(r"\s+(teaching|teaches|taught|teach)\b(?=$|\W)")
#: "is a", "she's such a", "total": the word after it is a label for a person, not an act
_LABEL_BEFORE = re.compile(r"\b(is|was|'s|are|were|being|such|what)\s+an?\s+((total|complete|right|proper|absolute|utter|known|raging|functioning|secret)\s+)?$")
#: a clause boundary between a hedge and the claim: ", and the school...", "; ", " but "
_CLAUSE_BREAK = re.compile(r"(,\s*and\b|;|\bbut\b|,\s*(the|this|that) (school|academy|trust)\b|\band the (school|academy|trust)\b)")
_THEY = re.compile(r"\b(they|them|their|they'?ve|they'?re)\b")
#: how far (characters) a look-ahead for a passive "by ..." or a victim may reach: keeps
#: the work per cue bounded however long a sentence is
_REACH = 200
#: most evidence items kept per key (a hostile 1 MB comment must not give 30,000)
MAX_EVIDENCE_PER_KEY = 64
#: how many mentions a nearest-target search walks past (ineligible ones) on each side
_SCAN = 32


@dataclass
class _Hit:
    section: str
    entry: str
    start: int
    end: int


class EscalationReviewer:
    """The learned escalation reviewer: ``probability(text)`` in [0, 1] that the policy's
    action table would escalate the comment, from a logistic regression over the embedded
    scorer's n-grams trained on labelled school comments (``training/train_escalation.py``;
    files in ``classifiers/policy/escalation_model/``, SHA-256 checked at load). Only ever
    routes a comment to a person; see :class:`Categoriser`.

    :raises classifiers.base.ScorerError: the model files are missing, tampered with or
        malformed (the message names the file).
    """

    def __init__(self, model_dir: Path | None = None):
        from classifiers.embedded import EmbeddedScorer

        self.scorer = EmbeddedScorer(model_dir or ESCALATION_MODEL_DIR)
        self.version = self.scorer.version

    def probability(self, text: str) -> float:
        """The model's probability for one comment's text (0.0 for empty text)."""
        return float(self.scorer.score([text])[0]["escalate"]) if text.strip() else 0.0


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
        self.reviewer = EscalationReviewer() if config.policy.escalation_review else None

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
        # the word lists and targets read the folded text (invisible characters removed,
        # look-alikes and masked letters folded); evidence spans point into the original
        folded = fold(comment.text or "")
        if folded.text == (comment.text or ""):
            self._categorise(comment, scores, ev)
        else:
            self._categorise(dataclasses.replace(comment, text=folded.text), scores, ev)
            for key, items in ev.items.items():
                ev.items[key] = [dataclasses.replace(e, span=folded.span(*e.span)) if e.span else e for e in items]
        cats = tuple(k for k in POLICY_KEYS if ev.has(k))
        needs_review = not scores.readable
        reasons: list[str] = []
        if needs_review:
            lang = scores.language or "undetermined"
            reasons.append(f"language {lang}: the scorer cannot read it, so a person must check it"
                           + (" (keys given come from the word lists only)" if cats else ""))
        escalate = any(k in self.policy.escalate_keys for k in cats)
        if comment.attachments and not cats and not _WORDS.search(folded.text):
            # a picture, video or sticker with no words: nothing here can see what it shows
            needs_review = True
            kinds = ", ".join(sorted({a.type for a in comment.attachments}))
            reasons.append(f"{kinds} with no words: the monitor cannot see what it shows, so a person should "
                           "look at it")
        if ev.reviews and not escalate:
            needs_review = True
            reasons.extend(ev.reviews)
        if self.reviewer is not None and not escalate and not ev.reviews:
            p = self.reviewer.probability(comment.text)
            if p >= self.policy.escalation_review_threshold:
                needs_review = True
                reasons.append(f"possible escalation: the learned escalation model gives {p:.2f} "
                               f"(>= {self.policy.escalation_review_threshold:g}) where the word lists "
                               "found no escalation key, so a person should read it")
        return Assessment(
            categories=cats,
            evidence={k: tuple(ev.items[k]) for k in cats},
            escalate=escalate,
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

    def _context_staff(self, comment: Comment, post_staff: Mention | None) -> Mention | None:
        """The one staff member the thread points to: named in the comment this one replies
        to (``parent_text``), else in the school's post."""
        if comment.parent_text:
            found = [m for m in self.targets.find(comment.parent_text) if m.kind == "staff" and m.staff]
            people = {m.staff for m in found}
            if len(people) == 1:
                return Mention("staff", 0, 0, found[0].surface, found[0].staff, "named in the comment it replies to")
        return post_staff

    def _signal_keys(self, comment: Comment, scores: Scores, ev: "_Collector", mentions: list[Mention],
                     staff_mentions: list[Mention], post_staff: Mention | None, other_schools: list[Mention],
                     addressed_parent: bool, reporting: bool, idioms: bool, praise: bool, norm: str) -> None:
        """Keys from the signals (:mod:`classifiers.signals`) and the targets: the model says
        what a comment does (threatens, alleges, insults, complains), the roster and the thread
        say whom it is about, and the conventions of the policy combine them. Adds only keys
        the word lists did not give; each key's evidence names the signal, its probability,
        the threshold and the target mention. A probable threat or allegation that reaches
        no key is recorded in ``ev.reviews`` (a person reads it)."""
        th = self.policy.thresholds
        val = scores.values

        def p(label: str) -> float:
            return float(val.get(label, 0.0))

        def add(key: str, label: str, t: Mention | None, why: str) -> None:
            if t is not None:
                ev.add(key, "target", t.describe(), (t.start, t.end) if t.end > t.start else None)
            ev.add(key, "score", f"{label} {p(label):.2f} {why}", label=label, score=p(label),
                   threshold=th.get(label, 0.5))

        pronoun = bool(_PRONOUN_SUBJ.search(norm))
        named_staff = [m for m in staff_mentions if m.how != "role" or m.staff] or staff_mentions
        context = self._context_staff(comment, post_staff) if pronoun and not named_staff else None
        staff_t = named_staff[0] if named_staff else context
        pupils = [m for m in mentions if m.kind == "pupil" and not _in_other_school(other_schools, m)]
        if reporting:
            return  # quoting in order to report (convention 7): the words are not the author's

        # threat_violence: to anyone, or to the site; idioms were blanked for the word lists,
        # and the model must be surer when the comment holds one
        thr = p("threat")
        if not ev.has("threat_violence") and thr >= th.get("threat", 0.5) and (not idioms or thr >= 0.8):
            t = staff_t or (pupils[0] if pupils else None)
            add("threat_violence", "threat", t, "(threat or wish of harm)" + (f" aimed at {t.kind}" if t else ""))

        # allegations: a claim of wrongdoing, about staff or a pupil
        alg = p("allegation")
        if alg >= th.get("allegation", 0.5) and not (ev.has("allegation_staff") or ev.has("allegation_pupil")):
            if staff_t is not None:
                add("allegation_staff", "allegation", staff_t, "(a claim of wrongdoing) about staff")
            elif pupils:
                add("allegation_pupil", "allegation", pupils[0], "(a claim of wrongdoing) about a pupil")
            else:
                ev.reviews.append(f"possible allegation: allegation {alg:.2f} but no staff member or pupil "
                                  "found as its subject, so a person should read it")

        # offensive_*: an insult aimed at staff or a pupil (not at other parents: convention 4)
        ins = p("insult")
        if ins >= th.get("insult", 0.5) and not addressed_parent and not praise:
            if staff_t is not None and not ev.has("offensive_staff") and not ev.has("offensive_pupil"):
                add("offensive_staff", "insult", staff_t, "aimed at staff")
            elif staff_t is None and pupils and not ev.has("offensive_pupil") \
                    and not any(m.kind == "parent" for m in mentions):
                add("offensive_pupil", "insult", pupils[0], "aimed at a pupil")

        # complaint_*: dissatisfaction, when nothing worse is said of that target (convention 1)
        cmp_ = p("complaint")
        if cmp_ >= th.get("complaint", 0.5) and not (ev.has("complaint_staff") or ev.has("complaint_school")):
            if named_staff and named_staff[0].staff:
                add("complaint_staff", "complaint", named_staff[0], "about staff")
            else:
                school = next((m for m in mentions if m.kind == "school"), None)
                add("complaint_school", "complaint", school, "about the school")

        # the safety net: probably an escalation, but no key was reached
        escalated = any(ev.has(k) for k in self.policy.escalate_keys)
        top = max(thr, alg)
        if not escalated and top >= self.policy.signal_review_threshold and not ev.reviews:
            label = "threat" if thr >= alg else "allegation"
            ev.reviews.append(f"possible escalation: {label} {top:.2f} (>= {self.policy.signal_review_threshold:g}) "
                              "where no escalation key was reached, so a person should read it")

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
        ix = _Index(norm, sents, mentions)
        memo: dict[tuple[str, bool], list[_Hit]] = {}

        def hits(section: str, masked_text: bool = False) -> list[_Hit]:
            key = (section, masked_text)
            if key not in memo:
                memo[key] = self._hits(section, masked if masked_text else norm)
            return memo[key]
        th = self.policy.thresholds
        # idioms are blanked out before threats and insults are looked for
        idiom_spans = [(h.start, h.end) for h in hits("idiom")]
        masked = _blank(norm, idiom_spans)
        reporting = sorted(hits("reporting"), key=lambda r: r.end)
        reporting_ends = [r.end for r in reporting]
        reporting_sents = {ix.sent(r.start) for r in reporting}
        defence_sents = {ix.sent(h.start) for h in hits("defence")}
        hedge_hits = hits("hedge")
        hedged_sents = {ix.sent(h.start) for h in hedge_hits}
        hedged_comment = bool(hedge_hits)
        assertion = hits("assertion")
        second_hand = hits("second_hand")
        staff_mentions = [m for m in mentions if m.kind == "staff"]
        staff_starts = [m.start for m in staff_mentions]
        own_child = [m for m in mentions if m.kind == "own_child"]
        addressed_parent = any(m.kind == "parent" and m.how == "reply to" for m in mentions)
        post_staff = self._post_staff(comment)
        persons_in_comment = any(m.kind in ("pupil", "own_child", "parent") for m in mentions)
        other_schools = [m for m in mentions if m.kind == "other_school"]

        def reported(h: _Hit) -> bool:
            """The words are quoted in order to report them (convention 7)."""
            si = ix.sent(h.start)
            before = norm[max(0, h.start - 2):h.start]
            after = norm[h.end:h.end + 2]
            quoted = ("'" in before or '"' in before) and ("'" in after or '"' in after)
            if quoted and reporting:
                return True  # "I've reported his comment. Calling people 'X' is disgusting"
            if si not in reporting_sents:
                return False
            # a reporting phrase ending at most 25 characters before the words, same sentence
            for i in range(bisect_left(reporting_ends, h.start - 25), bisect_right(reporting_ends, h.start)):
                if ix.sent(reporting[i].start) == si:
                    return True
            return quoted

        def last_staff_before(pos: int) -> Mention:
            """The last staff mention starting before ``pos`` (else the last one)."""
            i = bisect_left(staff_starts, pos)
            return staff_mentions[i - 1] if i > 0 else staff_mentions[-1]

        def target(h: _Hit, kinds: tuple[str, ...], prefer_before: bool = True, pronoun: bool = True,
                   only_before: bool = False, carry: bool = False, prefer_person: bool = False,
                   carry_roles: bool = True, strictly_before: bool = False) -> Mention | None:
            """The mention a cue is aimed at: nearest in the same sentence (before it
            preferred); with ``carry``, a cue opening its sentence ("Clown can't even...")
            or a sentence with no mention looks back to the previous sentence; else a
            pronoun resolved to the last staff mention in the comment, or to the one
            staff member the school's post names."""
            si = ix.sent(h.start)
            best, best_d = None, 10 ** 9
            persons_first = prefer_person and ix.first_person_end[si] <= h.start
            for m in ix.near(si, h, skip_places=persons_first):
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
            opens = h.start <= ix.content_start(si)
            if carry and si > 0 and (best is None or (opens and best.start >= h.end)):
                prev = ix.last_person[si - 1] if carry_roles else ix.last_named_person[si - 1]
                if prev is not None:
                    return prev if prev.kind in kinds else None
            if best is not None:
                return best if best.kind in kinds else None
            if pronoun and "staff" in kinds and ix.has_pronoun(si):
                if staff_mentions:
                    return last_staff_before(h.start)
                if post_staff and not persons_in_comment:
                    return post_staff
            return None

        def si_has_they(h: _Hit) -> bool:
            """The sentence of ``h`` speaks of "they/them" (a group named before it)."""
            return ix.has_they(ix.sent(h.start))

        # ---- racist_homophobic -------------------------------------------------
        racist_spans: list[_Hit] = []
        for h in hits("slur"):
            if reported(h):
                continue
            racist_spans.append(h)
            ev.add("racist_homophobic", "lexicon", f'slur "{text[h.start:h.end]}"', (h.start, h.end))
        for h in hits("identity_hostility"):
            if reported(h):
                continue
            racist_spans.append(h)
            ev.add("racist_homophobic", "pattern", f'identity-based hostility "{text[h.start:h.end]}"', (h.start, h.end))
        ia, tox = scores.get("identity_attack"), scores.get("toxicity")
        if ia >= th.get("identity_attack", 0.5) and tox >= th.get("toxicity", 0.5) and hits("identity_term") \
                and not reporting:
            ev.add("racist_homophobic", "score", "identity attack score with an identity term",
                   label="identity_attack", score=ia, threshold=th.get("identity_attack", 0.5))
        if racist_spans and not addressed_parent:
            for h in racist_spans:
                t = target(h, ("staff", "pupil"), only_before=True)
                if t is None and si_has_they(h):
                    t = target(h, ("staff", "pupil"), only_before=True, carry=True, carry_roles=False)
                if t is None:  # "Go back to X Miss Begum": a staff member named after it
                    t = ix.first_after(h.end, ix.sent_end(h.start), ("staff",))
                if t is not None and t.start > h.start + 2 and t.end <= h.end and not (
                        t.kind == "staff" and not t.surface.lower().endswith("s")
                        and _ONE_PERSON_BEFORE.search(norm, max(0, t.start - 25), t.start)):
                    # a pupil (or staff as a group) inside the hostile phrase is its object;
                    # one staff member named by identity ("the gay teacher") is its target
                    t = None
                role_after = ix.first_after(h.end, min(ix.sent_end(h.start), h.end + 20), ("staff",))
                if role_after is not None and re.match(r"\s*(as|for|in charge of|running|teaching)?\s*(the |our |a |my \w+'?s? )?$",
                                                       norm[h.end:role_after.start]):
                    t = role_after  # "a lezza as head of year", "the gay teacher"
                elif (_TEACHING_AFTER.match(norm, h.end) or _TEACHING_AFTER.search(norm[h.start:h.end] + "$")) \
                        and _SINGULAR_PRONOUN.search(norm):
                    # "her and her girlfriend? don't want a lesbo teaching my kids": a person
                    t = Mention("staff", h.start, h.end, text[h.start:h.end], (), "implied: teaching")
                if t is None or (t.kind == "pupil" and _object_of_teaching(norm, t)):
                    inside = [m for m in ix.starting_in(h.start, h.start + 3) if m.kind == "pupil"
                              and not _object_of_teaching(norm, m)]
                    t = inside[0] if inside else None
                if t is not None:
                    key = "offensive_staff" if t.kind == "staff" else "offensive_pupil"
                    ev.add(key, "target", t.describe(), (t.start, t.end))
                    ev.add(key, "pattern", f'identity-based hostility aimed at {t.kind}: "{text[h.start:h.end]}"', (h.start, h.end))

        # ---- threat_violence ---------------------------------------------------
        threat_hits = hits("threat", True)
        hyperbole = _Spans((x.start, x.end) for x in hits("own_child_hyperbole", True))
        others = [m for m in mentions if m.kind in ("staff", "pupil", "school")]
        for h in threat_hits:
            if hyperbole.overlaps(h.start, h.end) and not others \
                    and (own_child or _LAUGH.search(norm[max(0, h.start - 60):h.end + 40])):
                continue  # "I'll kill him" of one's own child, laughing (convention 6)
            if _NEGATION.search(masked[max(0, h.start - 30):h.start]) and not re.search(r"\b(won'?t|wouldn'?t|not) be (walking|leaving)", masked[max(0, h.start - 10):h.end]):
                continue
            ev.add("threat_violence", "pattern", f'threat or wish of harm: "{text[h.start:h.end]}"', (h.start, h.end))
        # lying in wait: "I'll be waiting at the gates for him / for Mr X"
        for m in re.finditer(r"\b(i'?ll|i will|we'?ll|we will|i'?m gonna) be waiting\b", masked):
            s1 = min(ix.sent_end(m.start()), m.end() + _REACH)
            rest = masked[m.end():s1]
            victim = ix.first_after(m.end(), s1, ("staff", "pupil", "parent"))
            if victim and re.search(r"\bfor\b", masked[m.end():victim.start]) or \
                    re.search(r"\bfor (him|her|them)\b", rest):
                ev.add("threat_violence", "pattern", f'lying in wait: "{text[m.start():s1].strip()}"', (m.start(), s1))
        thr = scores.get("threat")
        if thr >= th.get("threat", 0.5) and not idiom_spans and not reporting \
                and (mentions or _PRONOUN_SUBJ.search(norm)):
            ev.add("threat_violence", "score", "threat score over threshold", label="threat", score=thr,
                   threshold=th.get("threat", 0.5))

        # ---- offensive_* (insults, mockery) ------------------------------------
        for section in ("insult", "mockery"):
            for h in hits(section, True):
                if reported(h) or _THING_AFTER.match(masked, h.end):
                    continue  # "vile rumours", "useless system": about a thing, not a person
                t = target(h, ("staff", "pupil", "school", "own_child", "parent", "other_school"), carry=True,
                           prefer_person=section == "insult")
                if t is not None and t.kind == "parent" and _BACK_REF.fullmatch(norm, t.start, t.end) and staff_mentions \
                        and staff_mentions[0].start < t.start and not any(m.kind == "parent" and m is not t for m in mentions):
                    t = last_staff_before(t.start)  # "Ms X has done nothing ... waste of space that woman"
                if t is None or (addressed_parent and t.kind != "staff"):
                    continue
                if t.kind in ("staff", "pupil"):
                    if section == "mockery" and not _mocking_context(norm, h, t):
                        continue
                    if t.kind == "pupil" and _in_other_school(other_schools, t):
                        continue
                    if t.kind == "pupil" and t.start < h.end and t.end > h.start and other_schools:
                        # the insult names them ("... are little brats"): whose children is
                        # said by the first pupil mention of the sentence
                        subj = [ix.mentions[i] for i in ix.before_in_sent(ix.sent(h.start), t.start)
                                if ix.mentions[i].kind == "pupil"]
                        if subj and _in_other_school(other_schools, subj[0]):
                            continue
                    key = "offensive_staff" if t.kind == "staff" else "offensive_pupil"
                    ev.add(key, "target", t.describe(), (t.start, t.end))
                    ev.add(key, "lexicon", f'{section} "{text[h.start:h.end]}" aimed at {t.kind}', (h.start, h.end))
                elif t.kind == "school" and section == "insult":
                    ev.add("complaint_school", "target", t.describe(), (t.start, t.end))
                    ev.add("complaint_school", "lexicon", f'harsh words about the school "{text[h.start:h.end]}" (no offensive_school key)', (h.start, h.end))
        ins = scores.get("insult")
        if ins >= th.get("insult", 0.5) and not ev.has("offensive_staff") and not addressed_parent and not reporting:
            named = [m for m in staff_mentions if m.how != "role" or m.staff]
            praise = hits("praise")
            if named and not praise:
                t = named[0]
                ev.add("offensive_staff", "target", t.describe(), (t.start, t.end))
                ev.add("offensive_staff", "score", "insult score with a staff target", label="insult",
                       score=ins, threshold=th.get("insult", 0.5))

        # ---- allegations --------------------------------------------------------
        image_refs_all = hits("image_ref")
        for h in hits("staff_act", True) + hits("harm_sign", True):
            si = ix.sent(h.start)
            if si in defence_sents or _NEGATION.search(norm[max(0, h.start - 25):h.start]):
                continue
            if _WISH.search(norm[max(0, h.start - 20):h.start]):
                continue  # "wants to slap", "I'll grab": a wish or threat, not a claim
            if _HYPOTHETICAL.search(norm[max(sents[si][0], h.start - 100):h.start]) and "again" not in norm[h.end:h.end + 50]:
                continue  # "if any teacher laid a finger on my kid...": hypothetical
            if _REMEDY.search(norm, max(0, h.start - 30), h.start):
                continue  # "thank you for sorting out the bullying": the act is being dealt with
            if h.section == "staff_act" and _LABEL_BEFORE.search(norm, max(0, h.start - 30), h.start):
                continue  # "Ms X is a drunk": a label (defamatory branding), no act on an occasion
            agent = _passive_agent(norm, ix, h) if h.section == "staff_act" else None
            if agent is not None:
                actor = agent  # "was shoved into a wall by Mr Black"
            elif h.section == "harm_sign":
                actor = staff_mentions[-1] if staff_mentions else None
            else:
                actor = _actor(norm, ix, h, staff_mentions)
            if actor is None and h.section == "staff_act" and comment.attachments and \
                    any(a.is_image_or_video for a in comment.attachments) and image_refs_all:
                actor = Mention("staff", h.start, h.start, "(person in the attached image)", (), "image reference")
            if actor is None or actor.kind != "staff":
                continue
            ev.add("allegation_staff", "target", actor.describe(), (actor.start, actor.end) if actor.end > actor.start else None)
            ev.add("allegation_staff", "lexicon", f'act "{text[h.start:h.end]}"', (h.start, h.end))
        # acts that at school only staff do ("restrained", "locked in a room", "left
        # behind on the trip"): staff are the doer unless a pupil is named as doing it
        for h in hits("care_act", True):
            si = ix.sent(h.start)
            if si in defence_sents or _NEGATION.search(norm[max(0, h.start - 25):h.start]):
                continue
            if _WISH.search(norm[max(0, h.start - 20):h.start]):
                continue
            if _HYPOTHETICAL.search(norm[max(sents[si][0], h.start - 100):h.start]) and "again" not in norm[h.end:h.end + 50]:
                continue
            if _BY_PUPIL.match(norm, h.end) or _BY_PUPIL.match(norm, h.end + 1):
                continue
            actor = _actor(norm, ix, h, staff_mentions)
            passive = _PASSIVE_BEFORE.search(norm, max(0, h.start - 20), h.start) or \
                re.match(r"(being|been|was|were|get|gets|got)\b", norm[h.start:h.end])
            if actor is not None and actor.kind == "pupil" and not passive and not _is_object(norm, actor, h):
                continue  # "a boy in his class locked him in the toilets"
            if actor is None or actor.kind != "staff":
                if not (ix.first_person_end[si] < 10 ** 12 or _CHILD_WORD.search(norm, *sents[si])):
                    continue  # "it was strapped to the roof": done to no child
                actor = Mention("staff", h.start, h.start, "(staff: implied by the act)", (), "implied doer")
            ev.add("allegation_staff", "target", actor.describe(), (actor.start, actor.end) if actor.end > actor.start else None)
            ev.add("allegation_staff", "lexicon", f'act "{text[h.start:h.end]}" (done by staff at school)', (h.start, h.end))
        for h in hits("pupil_act", True) + hits("peer_act", True):
            si = ix.sent(h.start)
            if si in defence_sents or _NEGATION.search(norm[max(0, h.start - 20):h.start]):
                continue
            if _NON_PERSON_SUBJECT.search(norm, max(0, h.start - 12), h.start):
                continue  # "it hit him in the eye": a thing did it
            actor = _actor(norm, ix, h, [], passive_ok=True)
            if h.section == "peer_act" and (actor is None or actor.kind == "own_child") and not staff_mentions:
                # "my daughter has been bullied for two years": at school, by other pupils
                actor = Mention("pupil", h.start, h.start, "(pupils: implied by the act)", (), "implied doer")
            if actor is None or actor.kind != "pupil" or _in_other_school(other_schools, actor):
                continue
            ev.add("allegation_pupil", "target", actor.describe(), (actor.start, actor.end))
            ev.add("allegation_pupil", "lexicon", f'act "{text[h.start:h.end]}"', (h.start, h.end))

        # ---- defamatory ---------------------------------------------------------
        if ev.has("allegation_staff"):
            act_sents = {ix.sent(e.span[0]) for e in ev.items["allegation_staff"] if e.kind == "lexicon" and e.span}
            hedged = bool(act_sents) and act_sents <= hedged_sents or (hedged_comment and not assertion)
            if hedged and second_hand and not any("?" in norm[sents[i][0]:sents[i][1]] for i in act_sents):
                hedged = False  # "heard from another mum that Mrs X smacked...": passed on, not put as a question
            act_text = " ".join(norm[sents[i][0]:sents[i][1]] for i in act_sents)
            first_hand = (bool(own_child) or _FIRST_PERSON.search(act_text) is not None) and not assertion \
                and not second_hand
            if not hedged and (assertion or not first_hand):
                why = f'presented as fact ("{text[assertion[0].start:assertion[0].end]}")' if assertion else \
                    f'passed on second-hand ("{text[second_hand[0].start:second_hand[0].end]}")' if second_hand else \
                    "claimed of staff by a third party, not a first-hand report about own child"
                ev.add("defamatory_staff", "pattern", why)
                for e in ev.items["allegation_staff"]:
                    ev.add("defamatory_staff", e.kind, e.detail, e.span)
        for h in hits("branding"):
            si = ix.sent(h.start)
            if si in hedged_sents or si in defence_sents or _NEGATION.search(norm[max(0, h.start - 12):h.start]):
                continue
            t = target(h, ("staff",), only_before=True, strictly_before=True)
            if t is None:
                continue
            ev.add("defamatory_staff", "target", t.describe(), (t.start, t.end))
            ev.add("defamatory_staff", "lexicon", f'branding "{text[h.start:h.end]}" asserted of staff', (h.start, h.end))
        school_named = any(m.kind == "school" for m in mentions)
        hedge_sorted = sorted(hedge_hits, key=lambda g: g.start)
        hedge_starts = [g.start for g in hedge_sorted]

        def hedged_clause(h: _Hit, si: int) -> bool:
            """A hedge of sentence ``si`` covers ``h``: the nearest one before it with no
            clause break between, or any one after it in the sentence (O(log n))."""
            i = bisect_left(hedge_starts, h.start)
            if i > 0:
                g = hedge_sorted[i - 1]
                if ix.sent(g.start) == si and h.start - g.end <= 2 * _REACH \
                        and not _CLAUSE_BREAK.search(norm, min(g.end, h.start), h.start):
                    return True
            return i < len(hedge_sorted) and ix.sent(hedge_sorted[i].start) == si
        for h in hits("school_wrong"):
            si = ix.sent(h.start)
            if si in defence_sents or _NEGATION.search(norm[max(0, h.start - 20):h.start]):
                continue
            if si in hedged_sents and hedged_clause(h, si):
                continue  # hedged in its own clause (a hedge in an earlier clause "..., and the school is covering it up" is not)
            school_in_sent = [ix.first_school[si]] if ix.first_school[si] is not None else []
            before = ix.first_staff_or_school_end[si] <= h.start
            they = ix.has_they(si)
            if school_in_sent or (not before and not ix.has_staff[si] and (they or school_named)):
                ev.add("defamatory_school", "target", school_in_sent[0].describe() if school_in_sent else
                       "the school (the institution the page belongs to)",
                       (school_in_sent[0].start, school_in_sent[0].end) if school_in_sent else None)
                ev.add("defamatory_school", "lexicon", f'wrongdoing by the school asserted: "{text[h.start:h.end]}"', (h.start, h.end))

        # ---- complaints ----------------------------------------------------------
        complaint_hits = [h for h in hits("complaint") if not reported(h)]
        complaint_starts = {h.start for h in complaint_hits}
        # where acts or insults of pupils were found: a complaint word in that clause is
        # about the pupils' conduct, not the school's service
        pupil_spans = [e.span for k in ("allegation_pupil", "offensive_pupil") for e in ev.items[k]
                       if e.kind in ("lexicon", "pattern") and e.span]
        praise_n = len(hits("praise"))
        if complaint_hits and not (praise_n > len(complaint_hits) and " but " not in norm):
            for h in complaint_hits:
                t = target(h, ("staff", "school", "pupil", "own_child", "parent", "other_school"), carry=True,
                           carry_roles=False)
                if t is not None and t.kind == "staff" and t.how == "role" and _SHARE_BEFORE.search(norm, max(0, t.start - 20), t.start):
                    t = None  # "half the teachers never bothered": a share of the staff is the school
                if t is not None and t.kind == "staff":
                    ev.add("complaint_staff", "target", t.describe(), (t.start, t.end))
                    ev.add("complaint_staff", "lexicon", f'dissatisfaction "{text[h.start:h.end]}"', (h.start, h.end))
                elif t is None or t.kind in ("school", "pupil", "own_child"):
                    if t is not None and t.kind in ("pupil", "own_child") and \
                            any(a - 30 <= h.start <= b + 30 and (b <= h.start or a >= h.end) for a, b in pupil_spans):
                        continue  # "the same Year 6 girls take her snack every single day": the pupils' conduct
                    if addressed_parent and t is None and not any(m.kind == "school" for m in mentions) and len(complaint_hits) < 2:
                        continue
                    ev.add("complaint_school", "lexicon", f'dissatisfaction "{text[h.start:h.end]}"', (h.start, h.end))
                    if t is not None and t.kind == "school":
                        ev.add("complaint_school", "target", t.describe(), (t.start, t.end))
        # an unmet expectation ("never replies", "didn't grit the path") is a complaint
        # only when its nearest target is staff or the school
        for h in hits("unmet"):
            if reported(h) or h.start in complaint_starts:
                continue
            si = ix.sent(h.start)
            before = ix.before_in_sent(si, h.start)
            named_before = next((ix.mentions[i] for i in reversed(before[-_SCAN:]) if ix.mentions[i].kind == "staff"), None)
            # the staff member named before it is its subject ("Mr X gave my son a
            # detention without even listening"), else the nearest target
            t = named_before or target(h, ("staff", "school", "pupil", "own_child", "parent", "other_school"), carry=True)
            if t is None or t.kind not in ("staff", "school"):
                continue
            # "half the teachers didn't turn up": a share of the staff is the school's doing
            share = t.kind == "staff" and t.how == "role" and _SHARE_BEFORE.search(norm, max(0, t.start - 20), t.start)
            key = "complaint_staff" if t.kind == "staff" and not share else "complaint_school"
            ev.add(key, "target", t.describe(), (t.start, t.end))
            ev.add(key, "lexicon", f'unmet expectation "{text[h.start:h.end]}"', (h.start, h.end))
        # ---- signals x targets: what the model says, about whom the roster says ----
        self._signal_keys(comment, scores, ev, mentions, staff_mentions, post_staff, other_schools,
                          addressed_parent, bool(reporting), bool(idiom_spans), bool(hits("praise")), norm)

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
            object_starts = sorted(o.start for o in hits("image_object"))

            def object_after(end: int) -> bool:
                """A thing ("car", "letter") named within 12 characters after ``end``."""
                return bisect_right(object_starts, end + 12) > bisect_left(object_starts, end)

            # "the office manager's car": the photo shows a thing
            refs = [m for m in staff_mentions if not object_after(m.end)]
            image_refs = [h for h in image_refs_all if not object_after(h.end)]
            if not refs and not image_refs and post_staff and not persons_in_comment \
                    and _PRONOUN_SUBJ.search(norm) and not object_starts:
                # "him at the awards do last night" under a post naming Mr X: the photo is of him
                refs = [post_staff]
            if refs or image_refs:
                ev.add("image_of_staff", "attachment", f"{len(media)} {media[0].type} attachment(s) posted by {comment.author_id}, not a school account")
                for m in refs[:3]:
                    ev.add("image_of_staff", "target", m.describe(), (m.start, m.end) if m.end > m.start else None)
                for h in image_refs[:2]:
                    ev.add("image_of_staff", "pattern", f'said to show staff: "{text[h.start:h.end]}"', (h.start, h.end))


class _Collector:
    """Evidence per key, deduplicated, in insertion order."""

    def __init__(self) -> None:
        self.reviews: list[str] = []  # why a person should read it (signals' safety net)
        self.items: dict[str, list[Evidence]] = OrderedDict((k, []) for k in POLICY_KEYS)
        self._seen: dict[str, set[Evidence]] = {k: set() for k in POLICY_KEYS}

    def add(self, key: str, kind: str, detail: str, span: tuple[int, int] | None = None,
            label: str | None = None, score: float | None = None, threshold: float | None = None) -> None:
        e = Evidence(key=key, kind=kind, detail=detail, span=span, label=label, score=score, threshold=threshold)
        if e not in self._seen[key] and len(self.items[key]) < MAX_EVIDENCE_PER_KEY:
            self._seen[key].add(e)
            self.items[key].append(e)

    def has(self, key: str) -> bool:
        return any(e.kind != "target" for e in self.items[key])

    def drop(self, key: str) -> None:
        self.items[key] = []
        self._seen[key] = set()


def _sentences(norm: str) -> list[tuple[int, int]]:
    out, start = [], 0
    for m in _SENT_SPLIT.finditer(norm):
        if m.end() > start:
            out.append((start, m.end()))
            start = m.end()
    if start < len(norm) or not out:
        out.append((start, len(norm)))
    return out


class _Spans:
    """Half-open spans ``[a, b)`` (may overlap) answering "does anything overlap
    ``[s, e)``?" in O(log n): sorted by start, with the running maximum of the ends."""

    def __init__(self, spans) -> None:
        self.spans = sorted(spans)
        self.starts = [a for a, _ in self.spans]
        self.max_end: list[int] = []
        top = -1
        for _, b in self.spans:
            top = max(top, b)
            self.max_end.append(top)

    def overlaps(self, s: int, e: int) -> bool:
        i = bisect_left(self.starts, e)  # spans starting before e
        return i > 0 and self.max_end[i - 1] > s


class _Index:
    """Sentences and target mentions of one comment, indexed once so that each cue's
    questions (which sentence? nearest mention? any pronoun in it?) cost O(log n) or
    O(1) instead of a walk over the whole comment. Mentions are sorted and do not
    overlap (:meth:`TargetMatcher.find`), so they are sorted by end too, and the
    mentions of one sentence are a contiguous run ``[lo[si], hi[si])``."""

    _PERSON = ("staff", "pupil", "parent", "own_child")

    def __init__(self, norm: str, sents: list[tuple[int, int]], mentions: list[Mention]):
        self.norm = norm
        self.sents = sents
        self.starts = [a for a, _ in sents]
        self.mentions = mentions
        self.m_starts = [m.start for m in mentions]
        self.m_ends = [m.end for m in mentions]
        n = len(sents)
        self.lo = [0] * n
        self.hi = [0] * n
        big = 10 ** 12
        self.first_person_end = [big] * n
        self.first_staff_or_school_end = [big] * n
        self.first_school: list[Mention | None] = [None] * n
        self.has_staff = [False] * n
        self.last_person: list[Mention | None] = [None] * n
        self.last_named_person: list[Mention | None] = [None] * n
        k = 0
        for si, (_, b) in enumerate(sents):
            self.lo[si] = k
            while k < len(mentions) and (mentions[k].start < b or si == n - 1):
                m = mentions[k]
                if m.kind in self._PERSON:
                    self.first_person_end[si] = min(self.first_person_end[si], m.end)
                if m.kind in ("staff", "school"):
                    self.first_staff_or_school_end[si] = min(self.first_staff_or_school_end[si], m.end)
                if m.kind == "school" and self.first_school[si] is None:
                    self.first_school[si] = m
                if m.kind == "staff":
                    self.has_staff[si] = True
                if m.kind in ("staff", "pupil"):
                    self.last_person[si] = m
                    if m.how != "role":
                        self.last_named_person[si] = m
                k += 1
            self.hi[si] = k
        self._pronoun: dict[int, bool] = {}
        self._they: dict[int, bool] = {}
        self._content: dict[int, int] = {}

    def sent(self, pos: int) -> int:
        """Index of the sentence holding ``pos`` (the last one past the end)."""
        return max(0, bisect_right(self.starts, pos) - 1)

    def sent_end(self, pos: int) -> int:
        """End offset of the sentence holding ``pos``."""
        return self.sents[self.sent(pos)][1]

    def content_start(self, si: int) -> int:
        """First offset of sentence ``si`` that is not blank, a quote or ``@``."""
        if si not in self._content:
            a, b = self.sents[si]
            i = a
            while i < b and self.norm[i] in " \t\n\"'@":
                i += 1
            self._content[si] = i
        return self._content[si]

    def has_pronoun(self, si: int) -> bool:
        """Sentence ``si`` has a third-person pronoun (he, she, him, they...)."""
        if si not in self._pronoun:
            a, b = self.sents[si]
            self._pronoun[si] = _PRONOUN_SUBJ.search(self.norm, a, b) is not None
        return self._pronoun[si]

    def has_they(self, si: int) -> bool:
        """Sentence ``si`` has "they", "them", "their"..."""
        if si not in self._they:
            a, b = self.sents[si]
            self._they[si] = _THEY.search(self.norm, a, b) is not None
        return self._they[si]

    def near(self, si: int, h: "_Hit", skip_places: bool = False) -> list[Mention]:
        """The mentions of sentence ``si`` that can be nearest to cue ``h``, in text
        order: the last eligible one ending before it, those overlapping it, the first
        eligible one after it (``skip_places``: school names are not eligible)."""
        lo, hi = self.lo[si], self.hi[si]
        b = bisect_right(self.m_ends, h.start, lo, hi)   # [lo, b): end <= h.start
        a = max(b, bisect_left(self.m_starts, h.end, lo, hi))  # [a, hi): start >= h.end
        ok = (lambda m: m.kind not in ("school", "other_school")) if skip_places else (lambda m: True)
        out: list[Mention] = []
        for i in range(b - 1, max(lo, b - _SCAN) - 1, -1):
            if ok(self.mentions[i]):
                out.append(self.mentions[i])
                break
        out.reverse()
        out.extend(m for m in self.mentions[b:a] if ok(m))
        for i in range(a, min(hi, a + _SCAN)):
            if ok(self.mentions[i]):
                out.append(self.mentions[i])
                break
        return out

    def before_in_sent(self, si: int, pos: int) -> range:
        """Indices (into ``mentions``) of the mentions of sentence ``si`` ending at or
        before ``pos``."""
        lo, hi = self.lo[si], self.hi[si]
        return range(lo, bisect_right(self.m_ends, pos, lo, hi))

    def first_after(self, pos: int, limit: int, kinds: tuple[str, ...]) -> Mention | None:
        """The first mention of one of ``kinds`` starting in ``[pos, limit)``."""
        i = bisect_left(self.m_starts, pos)
        for j in range(i, min(len(self.mentions), i + _SCAN)):
            m = self.mentions[j]
            if m.start >= limit:
                return None
            if m.kind in kinds:
                return m
        return None

    def starting_in(self, a: int, b: int) -> list[Mention]:
        """Mentions starting in ``[a, b)``."""
        return self.mentions[bisect_left(self.m_starts, a):bisect_left(self.m_starts, b)]


def _blank(norm: str, spans: list[tuple[int, int]]) -> str:
    chars = list(norm)
    for a, b in spans:
        for i in range(a, b):
            chars[i] = " "
    return "".join(chars)


def _in_other_school(others: list[Mention], m: Mention) -> bool:
    """A pupil mention next to another school's name ("St Mark's lot", "the kids from
    St Bede's", "the girl in goal for the other side"): not a pupil of this school.

    :param others: the comment's ``other_school`` mentions, in text order (only those
        starting within reach of ``m`` are looked at)."""
    lo = bisect_left(others, m.start - 25 - _REACH, key=lambda o: o.start)
    hi = bisect_right(others, m.end + 40, key=lambda o: o.start)
    return any(0 <= m.start - o.end <= 25 or 0 <= o.start - m.end <= 40 for o in others[lo:hi])


def _object_of_teaching(norm: str, m: Mention) -> bool:
    """Pupils as the object of "teaching/making/telling/controlling" are not the target
    of hostility ("the fat useless lump can't even control a year 9 class")."""
    return re.search(r"\b(teaching|teach|teaches|making|make|telling|tell|forcing|control|controlling|manage|managing|handle|handling)\s+(\w+\s+)?$",
                     norm[max(0, m.start - 30):m.start]) is not None


def _mocking_context(norm: str, h: _Hit, t: Mention) -> bool:
    """Mockery words like "lol" only count when close to the target."""
    if h.entry in ("lol", "lmao", "bless him", "bless her"):
        return abs(h.start - t.end) <= 60 and t.kind == "pupil"
    return True


def _passive_agent(norm: str, ix: _Index, h: _Hit) -> Mention | None:
    """For a passive act ("was shoved ... by Mr Black", "got screamed at by the TA"), the
    first mention after "by" in the same sentence (within reach); None otherwise."""
    if not (_PASSIVE_BEFORE.search(norm, max(0, h.start - 20), h.start)
            or re.match(r"(been|was|were|got|gets|get|being)\b", norm[h.start:h.end])):
        return None
    s1 = min(ix.sent_end(h.start), h.end + _REACH)
    by = _BY.search(norm, h.end, s1)
    if by is None:
        return None
    i = bisect_left(ix.m_starts, by.end())
    if i < len(ix.mentions) and ix.mentions[i].start < min(s1, by.end() + 40):
        return ix.mentions[i]
    return None


def _is_object(norm: str, m: Mention, h: _Hit) -> bool:
    """Mention ``m`` (before cue ``h``) is an object rather than the cue's subject: it
    follows a preposition, three or more words lie between them, or a verb-like word
    (-ed, -ing) comes right before it."""
    gap = norm[m.end:h.start]
    if re.search(r"\b(in|from|at|with|of|for|on|near|behind|beside)\s+$", norm[max(0, m.start - 10):m.start]):
        return True  # "the TA in my daughter's class called her...": inside a prepositional phrase
    return len(gap.split()) >= 3 or re.search(r"\b\w+(ed|ing)\s+((at|to|on|with|into)\s+)?(\w+\s+)?$",
                                             norm[max(0, m.start - 25):m.start]) is not None


def _actor(norm: str, ix: _Index, h: _Hit, staff_mentions: list[Mention],
           passive_ok: bool = False) -> Mention | None:
    """Who did the act: for a passive ("was called ... by two boys") the mention after
    "by"; else the nearest mention before the act in its sentence; else a subject
    pronoun resolved to the last staff mention."""
    si = ix.sent(h.start)
    s0, s1 = ix.sents[si]
    mentions = ix.mentions
    passive = re.search(r"\b(been|was|were|got|gets|being|is|are)\s+(\w+\s+)?$", norm[max(s0, h.start - 20):h.start]) \
        or re.match(r"(been|was|were|got|gets|being)\b", norm[h.start:h.end])
    if passive_ok and passive:
        by = re.compile(r"\bby\b").search(norm, h.end, min(s1, h.end + _REACH))
        if by:
            i = bisect_left(ix.m_starts, by.end())
            if i < len(mentions):
                return mentions[i]
    before = ix.before_in_sent(si, h.start)
    # Roman Urdu marks the doer with "ne" ("us TA ne ... dhakka diya")
    for i in reversed(before[-_SCAN:]):
        m = mentions[i]
        if re.match(r"\s+ne\b", norm[m.end:m.end + 4]):
            return m
    if before:
        last = mentions[before[-1]]
        if last.kind in ("school", "other_school") and len(before) > 1 and \
                re.search(r"\b(from|at|in|of)\s+$", norm[max(0, last.start - 6):last.start]) and \
                mentions[before[-2]].kind == "pupil":
            last = mentions[before[-2]]  # "the older ones from St X were chucking stones"
        if last.kind in ("pupil", "own_child") and _is_object(norm, last, h):
            # "Mrs Hall put a year 8 girl in isolation ... and wouldn't let her go": the
            # pupil is the object of an earlier verb; the staff member before it is the doer
            for i in reversed(before[-_SCAN:]):
                if mentions[i].kind == "staff":
                    return mentions[i]
        return last
    # a subject pronoun just before the act ("he grabbed", "she's been")
    if re.search(r"\b(he|she|he's|she's|hes|shes|they)\s+(\w+\s+){0,3}$", norm[max(s0, h.start - 30):h.start]) and staff_mentions:
        i = bisect_left(staff_mentions, h.start, key=lambda m: m.start)
        return staff_mentions[i - 1] if i > 0 else staff_mentions[-1]
    # a mention inside the hit is its doer when the hit opens with it, or when it is staff
    # ("...PTA money is sitting in the head's own bank account"); else it is the object
    inside = [m for m in ix.starting_in(h.start, h.end) if m.end <= h.end and (m.start == h.start or m.kind == "staff")]
    if inside:
        return inside[0]
    after = ix.first_after(h.end, s1, ("staff", "pupil"))
    if after and re.match(r"\s*(by|from)\b", norm[h.end:after.start] or " "):
        return after
    return None
