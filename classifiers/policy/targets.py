"""Targets: who or what a comment is about (staff, pupils, the school, other parents).

All names come from the config: ``[[staff]]`` (``name``, ``title``, ``role``,
``nicknames``) and ``[school]`` (``name``, ``aliases``). Words for roles, pupils and the
school come from the lexicon (``staff_role``, ``role_<role>``, ``pupil``, ``own_child``,
``school``, ``other_school``, ``parent``, ``not_staff``, ``titles``, ``common_words``).

A roster member is matched by (most specific first):

* full name (``Helen Ashworth``), title + surname (``Mrs Ashworth``; any title, since
  parents mix up Mrs/Miss/Ms), title + initial (``Mrs A``, capital initial only),
* surname alone or possessive (``Ashworth``, ``Ashworth's``); a surname that is also a
  common word (``Hope``, ``Bell``) only with a capital letter not at a sentence start,
* first name alone, only when written with a capital (``Helen``),
* configured ``nicknames`` (whole words, any case),
* small typos in names of six letters or more (one edit; two from ten letters), only for
  capitalised words or after a title.

Pure: no I/O. Build :class:`TargetMatcher` once per config.
"""

from __future__ import annotations

import re
from bisect import bisect_left, insort
from dataclasses import dataclass

from monitor.config import Config, StaffMember

from classifiers.policy.lexicon import Lexicon, normalise, word_regex

#: Mention kinds, in the order a tie is broken.
KINDS = ("staff", "pupil", "own_child", "school", "other_school", "parent")


@dataclass(frozen=True)
class Mention:
    """One target mention.

    :ivar kind: one of :data:`KINDS`.
    :ivar start, end: character offsets in the comment text.
    :ivar surface: the words as written.
    :ivar staff: the roster members it names (empty for a role that no roster entry
        holds, a pupil, the school...).
    :ivar how: how it was recognised, e.g. ``title + surname``, ``role``, ``typo``.
    """

    kind: str
    start: int
    end: int
    surface: str
    staff: tuple[StaffMember, ...] = ()
    how: str = ""

    def describe(self) -> str:
        """Readable, e.g. ``"Mrs Ashworth" = Helen Ashworth (headteacher), title + surname``."""
        if self.staff:
            who = ", ".join(f"{s.name} ({s.role})" if s.role else s.name for s in self.staff)
            return f'"{self.surface}" = {who}, {self.how}'
        return f'"{self.surface}" ({self.kind}, {self.how})'


def _damerau(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance between ``a`` and ``b``, capped at ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
        if min(prev) > limit:
            return limit + 1
    return prev[-1]


_SUBJECT_VERB = re.compile(r"\s+(is|was|has|had|should|needs|can'?t|cannot|could|couldn'?t|will|won'?t|did|didn'?t|does|doesn'?t|never|always|still|must|wants|thinks|said|says|got|gets|clearly|obviously|"
                           r"keeps|kept|threw|hit|hits|shook|took|told|tells|put|left|made|makes|swore|spat|\w{3,}ed)\b")
_WORD = re.compile(r"[^\W\d_][\w'\-]*", re.UNICODE)


class TargetMatcher:
    """Finds target mentions in a comment for one school's config and lexicon."""

    def __init__(self, config: Config, lexicon: Lexicon):
        self.lexicon = lexicon
        titles = sorted({w for w in lexicon.raw_words["titles"]} | {normalise(s.title) for s in config.staff if s.title}, key=len, reverse=True)
        self._titles_rx = "(?:" + "|".join(re.escape(t) for t in titles if t) + r")\.?"
        common = set(lexicon.raw_words["common_words"])
        self._staff_rx: list[tuple[re.Pattern[str], StaffMember, str, bool]] = []
        self._first_names: list[tuple[re.Pattern[str], StaffMember]] = []
        self._fuzzy: list[tuple[str, StaffMember]] = []
        for member in config.staff:
            parts = normalise(member.name).split()
            if not parts:
                continue
            first, surname = parts[0], parts[-1]
            esc_full = r"\s+".join(re.escape(p) for p in parts)
            poss = r"(?:'?s)?(?![\w*])"
            self._staff_rx.append((re.compile(rf"(?<![\w*]){esc_full}{poss}"), member, "full name", False))
            if len(parts) > 1:
                self._staff_rx.append((re.compile(rf"(?<![\w*]){self._titles_rx}\s+{re.escape(first)}\s+{re.escape(surname)}{poss}"), member, "title + full name", False))
                self._staff_rx.append((re.compile(rf"(?<![\w*]){self._titles_rx}\s+{re.escape(surname)}{poss}"), member, "title + surname", False))
                self._staff_rx.append((re.compile(rf"(?<![\w*]){self._titles_rx}\s+{re.escape(surname[0])}\.?(?![\w*'])"), member, "title + initial", True))
                self._staff_rx.append((re.compile(rf"(?<![\w*]){re.escape(surname)}{poss}"), member, "surname", surname in common))
                if len(surname) >= 6:
                    self._fuzzy.append((surname, member))
                if first not in common and len(first) >= 3:
                    self._first_names.append((re.compile(rf"(?<![\w*]){re.escape(first)}{poss}"), member))
            for nick in member.nicknames:
                self._staff_rx.append((re.compile(word_regex(nick)), member, "nickname", False))
        self._roles = {role: sec for role, sec in lexicon.role_sections().items()}
        self._staff_by_role: dict[str, tuple[StaffMember, ...]] = {}
        for member in config.staff:
            if member.role:
                self._staff_by_role.setdefault(normalise(member.role), ())
                self._staff_by_role[normalise(member.role)] += (member,)
        school_words = [config.school.name, *config.school.aliases]
        # "Brookfield Primary School" also as "Brookfield Primary"; handles with @ stay whole.
        self._school_rx = [re.compile(word_regex(w.lstrip("@")) if not w.startswith("@") else re.escape(normalise(w)) + r"(?!\w)")
                           for w in school_words if w.strip()]
        self.school_name = config.school.name

    # -- helpers ---------------------------------------------------------------------
    @staticmethod
    def _sentence_initial(text: str, pos: int) -> bool:
        """``pos`` opens a sentence: only blanks, quotes or "(" between it and the text's
        start or a ``.!?:``, newline or ``@`` (walks back over those characters only)."""
        i = pos - 1
        while i >= 0 and text[i] in " \t\"'(":
            i -= 1
        return i < 0 or text[i] in ".!?\n:@"

    def _staff_mentions(self, text: str, norm: str) -> list[Mention]:
        out: list[Mention] = []
        for rx, member, how, needs_case in self._staff_rx:
            for m in rx.finditer(norm):
                s, e = m.start(), m.end()
                if how == "title + initial":
                    initial_pos = e - 1 if text[e - 1] != "." else e - 2
                    if not text[initial_pos].isupper():
                        continue
                elif needs_case:
                    possessive = norm[s:e].endswith("s") and "'" in norm[s:e]
                    if not text[s].isupper():
                        continue
                    if self._sentence_initial(text, s) and not possessive and not _SUBJECT_VERB.match(norm, e):
                        continue  # "Hope you're well" / "Bell is a clown": only the latter
                out.append(Mention("staff", s, e, text[s:e], (member,), how))
        for rx, member in self._first_names:
            for m in rx.finditer(norm):
                if text[m.start()].isupper():
                    out.append(Mention("staff", m.start(), m.end(), text[m.start():m.end()], (member,), "first name"))
        if self._fuzzy:
            taken = bytearray(len(norm) + 1)  # 1 where an exact mention already covers
            for m in out:
                taken[m.start:m.end] = b"\x01" * (m.end - m.start)
            for w in _WORD.finditer(norm):
                tok = w.group().rstrip("'s") if w.group().endswith("'s") else w.group()
                if len(tok) < 6 or taken[w.start()]:
                    continue
                before = norm[max(0, w.start() - 6):w.start()]
                titled = re.search(rf"{self._titles_rx}\s+$", before) is not None
                if not (text[w.start()].isupper() or titled):
                    continue
                for surname, member in self._fuzzy:
                    if tok == surname:
                        continue
                    limit = 2 if len(surname) >= 10 else 1
                    if _damerau(tok, surname, limit) <= limit and tok[0] == surname[0]:
                        out.append(Mention("staff", w.start(), w.end(), text[w.start():w.end()], (member,), f"typo of {member.name.split()[-1]}"))
                        break
        return out

    def find(self, text: str, norm: str | None = None) -> list[Mention]:
        """All mentions in ``text``, sorted by position; overlapping mentions keep the
        longest (a roster match beats a role word of the same length)."""
        norm = normalise(text) if norm is None else norm
        cands: list[Mention] = self._staff_mentions(text, norm)
        guards = sorted((m.start(), m.end()) for _, m in self.lexicon["not_staff"].finditer(norm))
        guard_starts = [a for a, _ in guards]
        guard_reach = [0] * len(guards)  # running maximum of the guards' ends
        for i, (_, b) in enumerate(guards):
            guard_reach[i] = max(b, guard_reach[i - 1] if i else 0)

        def guarded(s: int, e: int) -> bool:
            """``[s, e)`` overlaps a guard ("head lice", "hit his head")."""
            i = bisect_left(guard_starts, e)
            return i > 0 and guard_reach[i - 1] > s

        role_hits: dict[tuple[int, int], tuple[StaffMember, ...]] = {}
        for role, sec in self._roles.items():
            holders = self._staff_by_role.get(normalise(role), ())
            if not holders:
                continue
            for _, m in sec.finditer(norm):
                role_hits[(m.start(), m.end())] = holders
        # role hits by start, with their insertion order (the first listed wins a tie)
        role_order = {k: i for i, k in enumerate(role_hits)}
        role_keys = sorted(role_hits)
        role_starts = [a for a, _ in role_keys]
        role_len = max((b - a for a, b in role_keys), default=0)
        for _, m in self.lexicon["staff_role"].finditer(norm):
            if guarded(m.start(), m.end()):
                continue
            holders = role_hits.get((m.start(), m.end()), ())
            if not holders:
                # a role hit containing this one or inside it starts within role_len before it
                lo = bisect_left(role_starts, m.start() - role_len)
                hi = bisect_left(role_starts, m.end())
                for a, b in sorted(role_keys[lo:hi], key=role_order.__getitem__):
                    if a <= m.start() and m.end() <= b or m.start() <= a and b <= m.end():
                        holders = role_hits[(a, b)]
                        break
            cands.append(Mention("staff", m.start(), m.end(), text[m.start():m.end()], holders, "role"))
        for (a, b), holders in role_hits.items():
            if not guarded(a, b):
                cands.append(Mention("staff", a, b, text[a:b], holders, "role"))
        for rx in self._school_rx:
            for m in rx.finditer(norm):
                cands.append(Mention("school", m.start(), m.end(), text[m.start():m.end()], (), "school name"))
        for kind, section in (("own_child", "own_child"), ("pupil", "pupil"), ("school", "school"),
                              ("other_school", "other_school"), ("parent", "parent")):
            for _, m in self.lexicon[section].finditer(norm):
                cands.append(Mention(kind, m.start(), m.end(), text[m.start():m.end()], (), section.replace("_", " ")))
        # Replies: "@Jo Bloggs ..." at the start addresses another person (a parent),
        # unless the handle is the school's or a roster name.
        m = re.match(r"\s*@([A-Z][\w'\-]*(?:\s+[A-Z][\w'\-]*)?|[\w.]+)", text)
        if m and not any(c.start <= m.start(1) < c.end and c.kind in ("staff", "school") for c in cands):
            cands.append(Mention("parent", m.start(), m.end(), text[m.start():m.end()], (), "reply to"))
        # Resolve overlaps: longest wins; ties by kind order (staff first).
        cands.sort(key=lambda c: (-(c.end - c.start), KINDS.index(c.kind)))
        kept: list[tuple[int, int, Mention]] = []  # sorted by start, never overlapping
        for c in cands:
            # kept spans do not overlap, so only the neighbours by start can overlap c
            i = bisect_left(kept, (c.start, -1))
            if i > 0 and kept[i - 1][1] > c.start or i < len(kept) and kept[i][0] < c.end:
                continue  # keep a pupil inside "Brookfield kids" etc. only when not overlapping
            insort(kept, (c.start, c.end, c))
        return [c for _, _, c in kept]
