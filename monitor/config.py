"""Configuration: one TOML file, loaded once with :mod:`tomllib` into typed objects.

Every key is documented in ``config.example.toml``. A file holding only the ``[school]``
and ``[[staff]]`` tables (the shape of a school's roster file) is a valid config for
``score`` and ``replay``; the other sections all have defaults.

Errors: :func:`load_config` collects every problem it finds and raises one
:class:`ConfigError` whose message lists them, each naming the file, the key and what was
expected. The CLI prints it and exits with status 2.

Secrets (tokens, passwords) are never in the file. A secret is a :class:`SecretRef`
written as ``<name>_env = "VAR"`` (environment variable), ``<name>_file = "/path"`` or
``<name>_credential = "name"`` (a systemd credential under ``$CREDENTIALS_DIRECTORY``).
A key that looks like an inline secret (``token = "..."``) is refused.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from monitor.domain import PLATFORMS, POLICY_KEYS, SIGNALS

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 (Ubuntu 22.04): the same parser, as the tomli package
    import tomli as tomllib

DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ROLES = ("coordinator", "headteacher", "safeguarding_lead", "senior_team")
SECRET_WORDS = ("token", "password", "secret", "bearer", "access_key", "api_key")


class ConfigError(Exception):
    """One or more problems in a config file.

    :ivar problems: list of messages, each ``"FILE: key: problem (expected ...)"``.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class SecretError(Exception):
    """A secret could not be read (variable unset, file missing). The message names the
    config key and the source, never the secret."""


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives; :meth:`resolve` reads it. Exactly one of the three is set.

    :ivar key: the config key it was given under, e.g. ``accounts[0].token`` (for errors).
    """

    key: str
    env: str | None = None
    file: str | None = None
    credential: str | None = None

    def describe(self) -> str:
        """Where it is read from, in words (never the value)."""
        if self.env:
            return f"environment variable {self.env}"
        if self.file:
            return f"file {self.file}"
        return f"systemd credential {self.credential}"

    def resolve(self, environ: Mapping[str, str] | None = None) -> str:
        """Read the secret now.

        :raises SecretError: naming the key and the source when it is missing or empty.
        """
        env = os.environ if environ is None else environ
        if self.env:
            value = env.get(self.env, "")
        else:
            if self.file:
                path = Path(self.file)
            else:
                base = env.get("CREDENTIALS_DIRECTORY")
                if not base:
                    raise SecretError(
                        f"{self.key}: systemd credential {self.credential!r} asked for but "
                        "CREDENTIALS_DIRECTORY is not set (use LoadCredential= in the unit)"
                    )
                path = Path(base) / str(self.credential)
            try:
                value = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise SecretError(
                    f"{self.key}: cannot read {self.describe()}: {exc.strerror}"
                ) from None
        value = value.strip()
        if not value:
            raise SecretError(f"{self.key}: {self.describe()} is unset or empty")
        from monitor.logging import register_secret

        register_secret(value)  # redacted from every log line from now on
        return value


@dataclass(frozen=True)
class StaffMember:
    """One ``[[staff]]`` entry: ``name`` ("Helen Ashworth"), ``title`` ("Mrs"), ``role``
    ("headteacher"), and optional ``nicknames`` a school adds (local names for them)."""

    name: str
    title: str = ""
    role: str = ""
    nicknames: tuple[str, ...] = ()


@dataclass(frozen=True)
class SchoolConfig:
    """``[school]``: ``name``, ``aliases``, ``timezone`` (IANA), ``own_accounts``
    (author ids like ``fb:1000`` whose comments are never counted)."""

    name: str
    aliases: tuple[str, ...] = ()
    timezone: str = "Europe/London"
    own_accounts: tuple[str, ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        """The school's timezone."""
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class AccountConfig:
    """One ``[[accounts]]`` table.

    Common: ``name`` (store key), ``platform``, ``poll_interval_minutes``,
    ``enabled``, ``base_url`` (API root; changed only for tests and the demo),
    ``timeout_seconds``, ``hide_enabled`` / ``block_enabled`` (actions, off by default).

    Facebook: ``page_id``, ``token`` (Page access token), ``app_id`` (the app's id, not a
    secret) and ``app_secret`` (optional; for ``appsecret_proof``, and with ``app_id`` the
    app token ``check`` needs for ``debug_token``), ``graph_version`` (default ``v23.0``),
    ``lookback_days``.

    Instagram (a professional account linked to a Facebook Page, read through the same
    Graph API): ``ig_user_id`` (the Instagram professional account's id, ``GET
    /{page-id}?fields=instagram_business_account``), ``token`` (the linked Page's access
    token), ``app_id`` / ``app_secret``, ``graph_version``, ``lookback_days`` as for Facebook.

    X: ``user_id`` and/or ``handle``, ``bearer_token`` (reading), and for hiding replies
    ``consumer_key``, ``consumer_secret``, ``access_token``, ``access_token_secret``;
    ``monthly_read_cap`` (posts read per calendar month: a legacy Basic/Pro cap),
    ``monthly_budget_usd`` (US dollars a calendar month at X's pay-per-use prices),
    ``deletion_checks_per_poll`` (stored open or flagged replies looked up per poll to
    notice deletions; 0 turns it off), ``lookback_days`` (recent search covers 7 days at
    most).
    """

    name: str
    platform: str
    poll_interval_minutes: float = 15.0
    enabled: bool = True
    base_url: str | None = None
    timeout_seconds: float = 20.0
    hide_enabled: bool = False
    block_enabled: bool = False
    page_id: str | None = None
    user_id: str | None = None
    handle: str | None = None
    ig_user_id: str | None = None
    graph_version: str = "v23.0"
    app_id: str | None = None
    lookback_days: int = 30
    monthly_read_cap: int | None = None
    monthly_budget_usd: float | None = None
    deletion_checks_per_poll: int = 100
    secrets: Mapping[str, SecretRef] = field(default_factory=dict)

    @property
    def external_id(self) -> str:
        """Page id for Facebook; the IG user id for Instagram; X user id, else ``@handle``."""
        if self.platform == "facebook":
            return self.page_id or ""
        if self.platform == "instagram":
            return self.ig_user_id or ""
        return self.user_id or (f"@{self.handle}" if self.handle else "")


@dataclass(frozen=True)
class ClassifierConfig:
    """``[classifier]``: ``backend`` (``embedded`` default, or ``detoxify``),
    ``batch_size``, ``readable_languages`` (ISO 639-1 codes the scorer reads; others go
    to review), and for Detoxify: ``detoxify_model``, ``checkpoint``,
    ``checkpoint_sha256``, ``huggingface_config_path``, ``torch_threads``."""

    backend: str = "embedded"
    batch_size: int = 64
    readable_languages: tuple[str, ...] = ("en",)
    detoxify_model: str = "original"
    checkpoint: str | None = None
    checkpoint_sha256: str | None = None
    huggingface_config_path: str | None = None
    torch_threads: int = 1


DEFAULT_ESCALATE = ("threat_violence", "allegation_staff", "allegation_pupil", "image_of_staff")
DEFAULT_ONE_STRIKE = ("racist_homophobic", "offensive_pupil", "threat_violence")
DEFAULT_STRIKE_KEYS = (
    "racist_homophobic",
    "offensive_pupil",
    "threat_violence",
    "offensive_staff",
    "defamatory_staff",
    "defamatory_school",
)
DEFAULT_THRESHOLDS = {
    "toxicity": 0.5,
    "severe_toxicity": 0.5,
    "obscene": 0.5,
    "threat": 0.5,
    "insult": 0.5,
    "identity_attack": 0.5,
    "complaint": 0.5,
    "allegation": 0.5,
}


@dataclass(frozen=True)
class PolicyConfig:
    """``[policy]``: the action table, made configurable per school.

    ``escalate_keys`` escalate at once; ``strike_keys`` count as strikes (complaint keys
    are refused here: a complaint never strikes); ``one_strike_keys`` recommend a block
    at one strike; otherwise ``strikes_to_block`` strikes within ``window_days``.
    ``thresholds`` maps each signal (:data:`~monitor.domain.SIGNALS`: Detoxify's six
    labels, ``complaint``, ``allegation``) to the probability that counts (0..1).
    ``lexicon_files`` are extra TOML lexicons; ``lexicon`` is an inline table of the same
    shape (local slang, nicknames), both merged over the shipped lexicons.
    ``escalation_review``: a comment the word lists did not escalate whose learned
    escalation probability (``classifiers/policy/escalation_model``) reaches
    ``escalation_review_threshold`` (0..1) goes to a person as ``needs_review``.
    ``signal_review_threshold``: a comment not escalated whose ``threat`` or
    ``allegation`` probability reaches it (0..1), but not its ``thresholds`` entry or
    with no target found, goes to a person as ``needs_review`` ("possible escalation").
    """

    window_days: int = 30
    strikes_to_block: int = 3
    escalate_keys: tuple[str, ...] = DEFAULT_ESCALATE
    strike_keys: tuple[str, ...] = DEFAULT_STRIKE_KEYS
    one_strike_keys: tuple[str, ...] = DEFAULT_ONE_STRIKE
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    lexicon_files: tuple[str, ...] = ()
    lexicon: Mapping[str, Any] = field(default_factory=dict)
    escalation_review: bool = True
    escalation_review_threshold: float = 0.6
    signal_review_threshold: float = 0.3


DEFAULT_ROUTES: Mapping[str, tuple[str, ...]] = {
    "threat_violence": ("safeguarding_lead", "coordinator"),
    "allegation_staff": ("headteacher", "coordinator"),
    "allegation_pupil": ("safeguarding_lead", "headteacher", "coordinator"),
    "image_of_staff": ("headteacher", "coordinator"),
    "block_recommendation": ("coordinator",),
    "needs_review": ("coordinator",),
    "reconnect": ("coordinator",),
    "account_stale": ("coordinator",),
    "read_budget": ("coordinator",),
    "permission": ("coordinator",),
    "quarantine": ("coordinator",),
    "backfill": ("coordinator",),
    "report": ("headteacher", "senior_team"),
}


@dataclass(frozen=True)
class SmtpConfig:
    """``[alerts.smtp]``: ``host``, ``port``, ``security`` (``starttls``, ``tls`` for
    implicit TLS, or ``none`` for a local relay only), ``username``, ``password``
    (a secret ref), ``timeout_seconds``, ``ca_file`` (extra CA bundle, optional)."""

    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: SecretRef | None = None
    timeout_seconds: float = 30.0
    ca_file: str | None = None


@dataclass(frozen=True)
class AlertsConfig:
    """``[alerts]``: ``enabled``, ``sender`` (From address), ``recipients`` (role to
    addresses), ``routes`` (category or alert kind to roles), ``group_wait_minutes``,
    ``repeat_minutes`` (repeat of an unacknowledged escalation), ``retry_max_minutes``
    (cap of the exponential backoff), ``escalation_max_wait_minutes`` (an escalation not
    delivered for this long makes ``status`` unhealthy and raises the undelivered-escalation
    alarm: a CRITICAL journal entry and a line in ``undelivered-escalations.log``),
    ``mail_dir`` (also write each message as .eml),
    ``backfill_alert_hours``: on an account's first poll (the backfill of the last
    ``lookback_days``), comments posted more than this many hours before it are assessed
    and counted but not emailed one by one: one ``backfill`` email lists them."""

    enabled: bool = True
    sender: str = "school-monitor@localhost"
    recipients: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    routes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_ROUTES))
    group_wait_minutes: float = 5.0
    repeat_minutes: float = 240.0
    retry_max_minutes: float = 60.0
    stale_after_hours: float = 6.0
    escalation_max_wait_minutes: float = 15.0
    backfill_alert_hours: float = 48.0
    mail_dir: str | None = None
    smtp: SmtpConfig = field(default_factory=SmtpConfig)


@dataclass(frozen=True)
class ReportsConfig:
    """``[reports]``: weekly report ``day`` (name), ``hour`` and ``minute`` in the
    school's timezone, ``out_dir`` (where report files are written; None: the folder
    ``reports`` beside the store, i.e. in the service's state directory, never next to the
    config, which is read-only to the service), ``send``."""

    day: str = "monday"
    hour: int = 7
    minute: int = 0
    out_dir: str | None = None
    send: bool = True


@dataclass(frozen=True)
class StorageConfig:
    """``[storage]``: ``path`` of the SQLite file, ``retention_days`` (text of comments
    that carry no key is deleted after this many days), ``evidence_years`` (flagged
    evidence kept this long), ``purge_hour`` (daily purge, school time),
    ``honour_x_deletions`` (when True, the text, platform data and attachment links of a
    stored X post are purged as soon as X reports it deleted, as X's Developer Policy asks;
    default False: the deletion is recorded and the evidence kept; see the README)."""

    path: str = "school-monitor.db"
    retention_days: int = 90
    evidence_years: int = 6
    purge_hour: int = 2
    honour_x_deletions: bool = False


@dataclass(frozen=True)
class WebConfig:
    """``[web]``: the coordinator's console (``school-monitor web``).

    ``base_url``: the address people open the console at, as the school's reverse proxy
    publishes it (e.g. ``https://monitor.school.example``); None: alerts carry no console
    link. ``listen``: ``HOST:PORT`` the console binds (loopback by default; put it behind a
    TLS reverse proxy, never on a public interface). ``link_days``: how long a console link
    in an email stays valid. ``secret_file``: the file holding the key that signs console
    links and session cookies (created 0600 on first use; default ``web-secret`` beside
    the store; never in the config file). ``session_hours``: a login lasts this long.
    ``cookie_secure``: cookies only over HTTPS (turn off only for a loopback-only demo)."""

    base_url: str | None = None
    listen: str = "127.0.0.1:8080"
    link_days: int = 7
    secret_file: str | None = None
    session_hours: float = 12.0
    cookie_secure: bool = True


@dataclass(frozen=True)
class Config:
    """The whole configuration. ``source`` is the file it came from (for messages);
    ``base_dir`` resolves relative paths in it."""

    school: SchoolConfig
    staff: tuple[StaffMember, ...] = ()
    accounts: tuple[AccountConfig, ...] = ()
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    web: WebConfig = field(default_factory=WebConfig)
    source: str = "<defaults>"
    base_dir: str = "."

    def resolve_path(self, p: str) -> Path:
        """A path from the config, relative ones taken from the config file's folder."""
        path = Path(p).expanduser()
        return path if path.is_absolute() else Path(self.base_dir) / path

    def reports_dir(self, store_path: str | os.PathLike | None = None) -> Path:
        """Where report files go: ``[reports] out_dir`` (relative to the config's folder),
        else ``reports`` beside the store (``store_path``, default ``[storage] path``)."""
        if self.reports.out_dir:
            return self.resolve_path(self.reports.out_dir)
        store = Path(store_path) if store_path is not None else self.resolve_path(self.storage.path)
        return store.parent / "reports"

    def web_secret_path(self, store_path: str | os.PathLike | None = None) -> Path:
        """Where the console's signing key lives: ``[web] secret_file`` (relative to the
        config's folder), else ``web-secret`` beside the store (``store_path``, default
        ``[storage] path``)."""
        if self.web.secret_file:
            return self.resolve_path(self.web.secret_file)
        store = Path(store_path) if store_path is not None else self.resolve_path(self.storage.path)
        return store.parent / "web-secret"

    def account(self, name: str) -> AccountConfig:
        """The account called ``name``.

        :raises KeyError: naming the unknown account and the known ones.
        """
        for a in self.accounts:
            if a.name == name:
                return a
        raise KeyError(f"no account {name!r} in {self.source} (have: {[a.name for a in self.accounts]})")


# --------------------------------------------------------------------------- loading


class _Reader:
    """Typed access to one TOML table, recording problems instead of raising."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems

    def problem(self, key: str, msg: str) -> None:
        self.problems.append(f"{self.source}: {key}: {msg}")

    def table(self, data: Mapping[str, Any], name: str, prefix: str = "") -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            self.problem(prefix + name, f"expected a table, got {type(value).__name__}")
            return {}
        return value

    def get(self, t: Mapping[str, Any], key: str, kind: type | tuple, default: Any, where: str,
            required: bool = False) -> Any:
        full = f"{where}.{key}" if where else key
        if key not in t:
            if required:
                self.problem(full, "missing (required)")
            return default
        value = t[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if bool not in kinds and isinstance(value, bool):
            self.problem(full, f"expected {_kind_name(kinds)}, got a boolean")
            return default
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kinds):
            self.problem(full, f"expected {_kind_name(kinds)}, got {type(value).__name__} {value!r}")
            return default
        return value

    def str_list(self, t: Mapping[str, Any], key: str, default: tuple, where: str) -> tuple[str, ...]:
        value = self.get(t, key, list, None, where)
        if value is None:
            return tuple(default)
        bad = [v for v in value if not isinstance(v, str)]
        if bad:
            self.problem(f"{where}.{key}" if where else key, f"expected a list of strings, found {bad[0]!r}")
            return tuple(default)
        return tuple(value)

    def choice(self, t, key, choices, default, where) -> str:
        value = self.get(t, key, str, default, where)
        if value not in choices:
            self.problem(f"{where}.{key}", f"expected one of {', '.join(choices)}, got {value!r}")
            return default
        return value

    def probability(self, t, key, default, where) -> float:
        """``t[key]`` as a probability in (0, 1] (``default`` when absent); anything else
        (a boolean, a string, 0, over 1) is a problem named ``where.key``."""
        if key not in t:
            return default
        v = t[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
            self.problem(f"{where}.{key}", f"expected a probability in (0, 1], got {v!r}")
            return default
        return float(v)

    def positive(self, t, key, kind, default, where, allow_zero=False):
        value = self.get(t, key, kind, default, where)
        if value is not None and (value < 0 or (value == 0 and not allow_zero)):
            self.problem(f"{where}.{key}", f"expected a {'non-negative' if allow_zero else 'positive'} number, got {value!r}")
            return default
        return value

    def unknown_keys(self, t: Mapping[str, Any], known: Iterable[str], where: str,
                     skip: Callable[[str], bool] | None = None, what: str = "key") -> None:
        """Report every key of ``t`` not in ``known`` as ``where.key: unknown key``, with
        the closest known key (difflib) as "did you mean". ``skip`` leaves keys that
        another check reports (e.g. a key that looks like an inline secret)."""
        known = sorted(set(known))
        for key in t:
            if key in known or (skip is not None and skip(key)):
                continue
            near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]!r}?" if near else f"known keys: {', '.join(known)}"
            self.problem(f"{where}.{key}" if where else key, f"unknown {what} ({hint})")

    def secret(self, t: Mapping[str, Any], name: str, where: str, required: bool = False) -> SecretRef | None:
        """Read ``<name>_env`` / ``<name>_file`` / ``<name>_credential``."""
        full = f"{where}.{name}"
        if name in t:
            self.problem(full, f"secrets are never written in the config file: use {name}_env, "
                         f"{name}_file or {name}_credential")
            return None
        found = {s: t[f"{name}_{s}"] for s in ("env", "file", "credential") if f"{name}_{s}" in t}
        if not found:
            if required:
                self.problem(full, f"missing: set {name}_env, {name}_file or {name}_credential")
            return None
        if len(found) > 1:
            self.problem(full, f"give only one of {', '.join(name + '_' + s for s in found)}")
            return None
        (src, value), = found.items()
        if not isinstance(value, str) or not value:
            self.problem(f"{full}_{src}", f"expected a non-empty string, got {value!r}")
            return None
        return SecretRef(key=full, **{src: value})


def _kind_name(kinds: tuple) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


_ACCOUNT_SECRETS = {
    "facebook": ("token", "app_secret"),
    "twitter": ("bearer_token", "consumer_key", "consumer_secret", "access_token", "access_token_secret"),
    "instagram": ("token", "app_secret"),
}
_KNOWN_SECTIONS = {"school", "staff", "accounts", "classifier", "policy", "alerts", "reports", "storage", "web"}

#: The keys each table accepts (every one is documented in config.example.toml). A key not
#: listed is an error naming it, with the closest known key: a typo such as
#: ``retention_day`` would otherwise silently leave the default in force.
_KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "school": ("name", "aliases", "timezone", "own_accounts"),
    "staff": ("name", "title", "role", "nicknames"),
    "accounts": ("name", "platform", "poll_interval_minutes", "enabled", "base_url", "timeout_seconds",
                 "hide_enabled", "block_enabled", "lookback_days"),
    "accounts.facebook": ("page_id", "graph_version", "app_id"),
    "accounts.twitter": ("user_id", "handle", "monthly_read_cap", "monthly_budget_usd", "deletion_checks_per_poll"),
    "accounts.instagram": ("ig_user_id", "graph_version", "app_id"),
    "classifier": ("backend", "batch_size", "readable_languages", "detoxify_model", "checkpoint",
                   "checkpoint_sha256", "huggingface_config_path", "torch_threads"),
    "policy": ("window_days", "strikes_to_block", "escalate_keys", "strike_keys", "one_strike_keys",
               "thresholds", "lexicon_files", "lexicon", "escalation_review", "escalation_review_threshold",
               "signal_review_threshold"),
    "web": ("base_url", "listen", "link_days", "secret_file", "session_hours", "cookie_secure"),
    "alerts": ("enabled", "sender", "recipients", "routes", "group_wait_minutes", "repeat_minutes",
               "retry_max_minutes", "stale_after_hours", "mail_dir", "smtp", "backfill_alert_hours",
               "escalation_max_wait_minutes"),
    "alerts.smtp": ("host", "port", "security", "username", "timeout_seconds", "ca_file",
                    "password_env", "password_file", "password_credential"),
    "reports": ("day", "hour", "minute", "out_dir", "send"),
    "storage": ("path", "retention_days", "evidence_years", "purge_hour", "honour_x_deletions"),
}


def _secret_keys(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(f"{n}_{src}" for n in names for src in ("env", "file", "credential"))


def parse_config(data: Mapping[str, Any], source: str = "<config>", base_dir: str = ".") -> Config:
    """Build a :class:`Config` from parsed TOML.

    :raises ConfigError: listing every problem found.
    """
    problems: list[str] = []
    r = _Reader(source, problems)
    for key in data:
        if key not in _KNOWN_SECTIONS:
            r.problem(key, f"unknown section (known: {', '.join(sorted(_KNOWN_SECTIONS))})")

    # [school]
    if "school" not in data:
        r.problem("school", "missing (required table with name, aliases, timezone, own_accounts)")
    s = r.table(data, "school")
    r.unknown_keys(s, _KNOWN_KEYS["school"], "school")
    tz = r.get(s, "timezone", str, "Europe/London", "school")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        r.problem("school.timezone", f"unknown IANA timezone {tz!r} (expected e.g. Europe/London)")
        tz = "Europe/London"
    own = r.str_list(s, "own_accounts", (), "school")
    for a in own:
        if not re.fullmatch(r"(fb|tw|ig):\S+", a):
            r.problem("school.own_accounts", f"expected author ids like 'fb:1000', 'tw:2000' or 'ig:3000', "
                                             f"got {a!r}")
    school = SchoolConfig(
        name=r.get(s, "name", str, "", "school", required="school" in data),
        aliases=r.str_list(s, "aliases", (), "school"),
        timezone=tz,
        own_accounts=own,
    )

    # [[staff]]
    staff = []
    raw_staff = data.get("staff", [])
    if not isinstance(raw_staff, list):
        r.problem("staff", "expected an array of tables ([[staff]])")
        raw_staff = []
    for i, st in enumerate(raw_staff):
        where = f"staff[{i}]"
        if not isinstance(st, dict):
            r.problem(where, "expected a table")
            continue
        r.unknown_keys(st, _KNOWN_KEYS["staff"], where)
        name = r.get(st, "name", str, "", where, required=True)
        if name is not None and not name.strip() and "name" in st:
            r.problem(f"{where}.name", "must not be empty")
        staff.append(StaffMember(
            name=name.strip(),
            title=r.get(st, "title", str, "", where).strip(),
            role=r.get(st, "role", str, "", where).strip(),
            nicknames=r.str_list(st, "nicknames", (), where),
        ))

    # [[accounts]]
    accounts = []
    raw_accounts = data.get("accounts", [])
    if not isinstance(raw_accounts, list):
        r.problem("accounts", "expected an array of tables ([[accounts]])")
        raw_accounts = []
    seen_names: set[str] = set()
    for i, a in enumerate(raw_accounts):
        where = f"accounts[{i}]"
        if not isinstance(a, dict):
            r.problem(where, "expected a table")
            continue
        platform = r.choice(a, "platform", PLATFORMS, "facebook", where)
        name = r.get(a, "name", str, f"{platform}-{i}", where)
        if name in seen_names:
            r.problem(f"{where}.name", f"duplicate account name {name!r}")
        seen_names.add(name)
        if a.get("platform", "facebook") not in PLATFORMS:
            continue  # one problem (the platform), not a cascade of platform-specific ones
        secrets = {}
        for sname in _ACCOUNT_SECRETS[platform]:
            ref = r.secret(a, sname, where, required=(sname in ("token", "bearer_token")))
            if ref:
                secrets[sname] = ref
        def inline_secret(key: str) -> bool:
            return any(w in key for w in SECRET_WORDS) and not key.endswith(("_env", "_file", "_credential"))

        for key in a:
            if inline_secret(key) and key not in _ACCOUNT_SECRETS[platform]:  # known names: r.secret reports them
                r.problem(f"{where}.{key}", "looks like a secret: give it as <name>_env, <name>_file or <name>_credential")
        r.unknown_keys(a, _KNOWN_KEYS["accounts"] + _KNOWN_KEYS[f"accounts.{platform}"]
                       + _secret_keys(_ACCOUNT_SECRETS[platform]), where,
                       skip=lambda k: inline_secret(k) or k in _ACCOUNT_SECRETS[platform],
                       what=f"key for a {platform} account")
        acc = AccountConfig(
            name=name,
            platform=platform,
            poll_interval_minutes=r.positive(a, "poll_interval_minutes", float, 15.0, where),
            enabled=r.get(a, "enabled", bool, True, where),
            base_url=r.get(a, "base_url", str, None, where),
            timeout_seconds=r.positive(a, "timeout_seconds", float, 20.0, where),
            hide_enabled=r.get(a, "hide_enabled", bool, False, where),
            block_enabled=r.get(a, "block_enabled", bool, False, where),
            page_id=r.get(a, "page_id", str, None, where, required=platform == "facebook"),
            user_id=r.get(a, "user_id", str, None, where),
            handle=r.get(a, "handle", str, None, where),
            ig_user_id=r.get(a, "ig_user_id", str, None, where, required=platform == "instagram"),
            graph_version=r.get(a, "graph_version", str, "v23.0", where),
            app_id=r.get(a, "app_id", str, None, where),
            lookback_days=r.positive(a, "lookback_days", int, 7 if platform == "twitter" else 30, where),
            monthly_read_cap=r.positive(a, "monthly_read_cap", int, None, where),
            monthly_budget_usd=r.positive(a, "monthly_budget_usd", float, None, where),
            deletion_checks_per_poll=r.positive(a, "deletion_checks_per_poll", int, 100, where, allow_zero=True),
            secrets=secrets,
        )
        if acc.monthly_budget_usd is not None and acc.monthly_budget_usd > 100_000:
            r.problem(f"{where}.monthly_budget_usd", f"expected US dollars a month (e.g. 10 or 25.50), got "
                                                     f"{acc.monthly_budget_usd:g}: over 100,000 looks like a mistake")
        if acc.app_id is not None and not re.fullmatch(r"[0-9]{1,40}", acc.app_id):
            r.problem(f"{where}.app_id", f"expected the numeric App ID (app dashboard, Basic settings), "
                                         f"got {acc.app_id!r:.40}")
        if platform == "instagram" and acc.ig_user_id is not None \
                and not re.fullmatch(r"[0-9]{1,40}", acc.ig_user_id):
            r.problem(f"{where}.ig_user_id", "expected the numeric Instagram professional account id (GET "
                                             "/{page-id}?fields=instagram_business_account), "
                                             f"got {acc.ig_user_id!r:.40}")
        if platform in ("facebook", "instagram") and not re.fullmatch(r"v\d+\.\d+", acc.graph_version):
            r.problem(f"{where}.graph_version", f"expected a Graph API version like 'v23.0', got {acc.graph_version!r}")
        if platform == "instagram" and acc.block_enabled:
            r.problem(f"{where}.block_enabled", "the Instagram API has no block endpoint: remove it (a block "
                                                "recommendation tells a person how to block in the app)")
        if platform == "twitter" and not (acc.user_id or acc.handle):
            r.problem(f"{where}.user_id", "missing: an X account needs user_id or handle")
        accounts.append(acc)

    # [classifier]
    c = r.table(data, "classifier")
    r.unknown_keys(c, _KNOWN_KEYS["classifier"], "classifier")
    classifier = ClassifierConfig(
        backend=r.choice(c, "backend", ("embedded", "detoxify"), "embedded", "classifier"),
        batch_size=r.positive(c, "batch_size", int, 64, "classifier"),
        readable_languages=r.str_list(c, "readable_languages", ("en",), "classifier"),
        detoxify_model=r.choice(c, "detoxify_model",
                                ("original", "unbiased", "multilingual", "original-small", "unbiased-small"),
                                "original", "classifier"),
        checkpoint=r.get(c, "checkpoint", str, None, "classifier"),
        checkpoint_sha256=r.get(c, "checkpoint_sha256", str, None, "classifier"),
        huggingface_config_path=r.get(c, "huggingface_config_path", str, None, "classifier"),
        torch_threads=r.positive(c, "torch_threads", int, 1, "classifier"),
    )

    # [policy]
    p = r.table(data, "policy")
    r.unknown_keys(p, _KNOWN_KEYS["policy"], "policy")

    def keys(name: str, default: tuple) -> tuple[str, ...]:
        value = r.str_list(p, name, default, "policy")
        for k in value:
            if k not in POLICY_KEYS:
                r.problem(f"policy.{name}", f"unknown policy key {k!r} (expected one of {', '.join(POLICY_KEYS)})")
        return value

    strike_keys = keys("strike_keys", DEFAULT_STRIKE_KEYS)
    for k in strike_keys:
        if k.startswith("complaint_"):
            r.problem("policy.strike_keys", f"{k}: a complaint never counts as a strike (policy)")
    one_strike = keys("one_strike_keys", DEFAULT_ONE_STRIKE)
    for k in one_strike:
        if k.startswith("complaint_"):
            r.problem("policy.one_strike_keys", f"{k}: a complaint never counts as a strike (policy)")
    thresholds = dict(DEFAULT_THRESHOLDS)
    th = r.table(p, "thresholds", "policy.")
    for label in th:
        if label not in SIGNALS:
            r.problem(f"policy.thresholds.{label}", f"unknown signal (expected one of {', '.join(SIGNALS)})")
        else:
            thresholds[label] = r.probability(th, label, thresholds[label], "policy.thresholds")
    policy = PolicyConfig(
        window_days=r.positive(p, "window_days", int, 30, "policy"),
        strikes_to_block=r.positive(p, "strikes_to_block", int, 3, "policy"),
        escalate_keys=keys("escalate_keys", DEFAULT_ESCALATE),
        strike_keys=tuple(k for k in strike_keys if not k.startswith("complaint_")),
        one_strike_keys=tuple(k for k in one_strike if not k.startswith("complaint_")),
        thresholds=thresholds,
        lexicon_files=tuple(str(Path(base_dir) / f) if not Path(f).is_absolute() else f
                            for f in r.str_list(p, "lexicon_files", (), "policy")),
        lexicon=r.table(p, "lexicon", "policy."),
        escalation_review=r.get(p, "escalation_review", bool, PolicyConfig.escalation_review, "policy"),
        escalation_review_threshold=r.probability(p, "escalation_review_threshold",
                                                  PolicyConfig.escalation_review_threshold, "policy"),
        signal_review_threshold=r.probability(p, "signal_review_threshold",
                                              PolicyConfig.signal_review_threshold, "policy"),
    )

    # [alerts]
    al = r.table(data, "alerts")
    r.unknown_keys(al, _KNOWN_KEYS["alerts"], "alerts")
    rec = r.table(al, "recipients", "alerts.")
    recipients = {}
    for role, addrs in rec.items():
        if role not in ROLES:
            r.problem(f"alerts.recipients.{role}", f"unknown role (expected one of {', '.join(ROLES)})")
            continue
        lst = r.str_list(rec, role, (), "alerts.recipients")
        for addr in lst:
            if not re.fullmatch(r"[^@\s<>,]+@[^@\s<>,]+", addr):
                r.problem(f"alerts.recipients.{role}", f"not an email address: {addr!r}")
        recipients[role] = lst
    routes = dict(DEFAULT_ROUTES)
    rt = r.table(al, "routes", "alerts.")
    for what, roles in rt.items():
        if what not in POLICY_KEYS and what not in DEFAULT_ROUTES:
            r.problem(f"alerts.routes.{what}", "unknown category or alert kind")
            continue
        lst = r.str_list(rt, what, (), "alerts.routes")
        for role in lst:
            if role not in ROLES:
                r.problem(f"alerts.routes.{what}", f"unknown role {role!r} (expected one of {', '.join(ROLES)})")
        routes[what] = lst
    sm = r.table(al, "smtp", "alerts.")
    r.unknown_keys(sm, _KNOWN_KEYS["alerts.smtp"], "alerts.smtp", skip=lambda k: k == "password")
    smtp = SmtpConfig(
        host=r.get(sm, "host", str, "localhost", "alerts.smtp"),
        port=r.positive(sm, "port", int, 587, "alerts.smtp"),
        security=r.choice(sm, "security", ("starttls", "tls", "none"), "starttls", "alerts.smtp"),
        username=r.get(sm, "username", str, None, "alerts.smtp"),
        password=r.secret(sm, "password", "alerts.smtp"),
        timeout_seconds=r.positive(sm, "timeout_seconds", float, 30.0, "alerts.smtp"),
        ca_file=r.get(sm, "ca_file", str, None, "alerts.smtp"),
    )
    alerts = AlertsConfig(
        enabled=r.get(al, "enabled", bool, True, "alerts"),
        sender=r.get(al, "sender", str, "school-monitor@localhost", "alerts"),
        recipients=recipients,
        routes=routes,
        group_wait_minutes=r.positive(al, "group_wait_minutes", float, 5.0, "alerts", allow_zero=True),
        repeat_minutes=r.positive(al, "repeat_minutes", float, 240.0, "alerts"),
        retry_max_minutes=r.positive(al, "retry_max_minutes", float, 60.0, "alerts"),
        stale_after_hours=r.positive(al, "stale_after_hours", float, 6.0, "alerts"),
        escalation_max_wait_minutes=r.positive(al, "escalation_max_wait_minutes", float, 15.0, "alerts"),
        backfill_alert_hours=r.positive(al, "backfill_alert_hours", float, 48.0, "alerts", allow_zero=True),
        mail_dir=r.get(al, "mail_dir", str, None, "alerts"),
        smtp=smtp,
    )

    # [reports]
    rp = r.table(data, "reports")
    r.unknown_keys(rp, _KNOWN_KEYS["reports"], "reports")
    day = r.get(rp, "day", str, "monday", "reports").lower()
    if day not in DAY_NAMES:
        r.problem("reports.day", f"expected a day name (monday..sunday), got {day!r}")
        day = "monday"
    hour = r.get(rp, "hour", int, 7, "reports")
    if not 0 <= hour <= 23:
        r.problem("reports.hour", f"expected 0..23, got {hour}")
        hour = 7
    minute = r.get(rp, "minute", int, 0, "reports")
    if not 0 <= minute <= 59:
        r.problem("reports.minute", f"expected 0..59, got {minute}")
        minute = 0
    reports = ReportsConfig(day=day, hour=hour, minute=minute,
                            out_dir=r.get(rp, "out_dir", str, None, "reports"),
                            send=r.get(rp, "send", bool, True, "reports"))

    # [storage]
    st = r.table(data, "storage")
    r.unknown_keys(st, _KNOWN_KEYS["storage"], "storage")
    storage = StorageConfig(
        path=r.get(st, "path", str, "school-monitor.db", "storage"),
        retention_days=r.positive(st, "retention_days", int, 90, "storage"),
        evidence_years=r.positive(st, "evidence_years", int, 6, "storage"),
        purge_hour=r.get(st, "purge_hour", int, 2, "storage"),
        honour_x_deletions=r.get(st, "honour_x_deletions", bool, False, "storage"),
    )

    # [web]
    wb = r.table(data, "web")
    r.unknown_keys(wb, _KNOWN_KEYS["web"], "web")
    base_url = r.get(wb, "base_url", str, None, "web")
    if base_url is not None:
        base_url = base_url.rstrip("/")
        if not re.match(r"https?://[^/\s]+", base_url):
            r.problem("web.base_url", f"expected an http(s) address such as https://monitor.school.example, got {base_url!r}")
            base_url = None
    listen = r.get(wb, "listen", str, "127.0.0.1:8080", "web")
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        r.problem("web.listen", f"expected HOST:PORT such as 127.0.0.1:8080, got {listen!r}")
        listen = "127.0.0.1:8080"
    web = WebConfig(
        base_url=base_url,
        listen=listen,
        link_days=r.positive(wb, "link_days", int, 7, "web"),
        secret_file=r.get(wb, "secret_file", str, None, "web"),
        session_hours=r.positive(wb, "session_hours", float, 12.0, "web"),
        cookie_secure=r.get(wb, "cookie_secure", bool, True, "web"),
    )

    if problems:
        raise ConfigError(problems)
    return Config(school=school, staff=tuple(staff), accounts=tuple(accounts), classifier=classifier,
                  policy=policy, alerts=alerts, reports=reports, storage=storage, web=web,
                  source=source, base_dir=base_dir)


def load_config(path: str | os.PathLike, warn=None) -> Config:
    """Load and validate a config file.

    :param warn: optional callable receiving warning strings (e.g. a world-readable
        config that names secret files).
    :raises ConfigError: file missing, not TOML (with line and column), or invalid keys.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read config file: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{p}: not UTF-8 text (byte {exc.start})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{p}: not valid TOML: {exc}"]) from None
    cfg = parse_config(data, source=str(p), base_dir=str(p.parent))
    if warn is not None:
        try:
            mode = p.stat().st_mode
        except OSError:
            mode = 0
        names_secret_file = any(
            ref.file for a in cfg.accounts for ref in a.secrets.values()
        ) or bool(cfg.alerts.smtp.password and cfg.alerts.smtp.password.file)
        if mode & stat.S_IROTH and names_secret_file:
            warn(f"{p} is world-readable and names secret files; chmod 0640 it "
                 "(owner root, group of the service user)")
    return cfg


def default_config() -> Config:
    """The embedded demo defaults (the bundled demo school's roster)."""
    from monitor import demo_data  # local import: demo data is package data

    return load_config(demo_data.path("school.toml"))
