"""Assembly: builds the long-lived parts from a config, once.

:class:`App` holds the store, the scoring engine, the categoriser, the pipeline, one
connector per enabled account, the outbox and the weekly report job. The daemon, ``poll``,
``check``, ``replay`` and ``demo`` all build one :class:`App`, so they run the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from monitor.config import AccountConfig, Config
from monitor.logging import get_logger
from monitor.pipeline import Clock, Pipeline, system_clock
from monitor.store import Store


@dataclass
class App:
    """The running parts. Build with :func:`build_app`; call :meth:`close` at the end."""

    config: Config
    store: Store
    pipeline: Pipeline
    clock: Clock
    connectors: dict[str, Any] = field(default_factory=dict)
    connector_errors: dict[str, str] = field(default_factory=dict)
    outbox: Any = None
    report_job: Any = None

    def connector(self, name: str) -> Any:
        """The connector for account ``name`` (built at start).

        An account whose connector could not be built at start has an
        :class:`UnstartedConnector` (its poll pauses it with a reconnect alert).

        :raises KeyError: when the account is unknown or not enabled.
        """
        if name in self.connectors:
            return self.connectors[name]
        raise KeyError(self.connector_errors.get(name, f"no enabled account {name!r}"))

    def enabled_accounts(self) -> list[AccountConfig]:
        """Accounts with ``enabled = true``."""
        return [a for a in self.config.accounts if a.enabled]

    def close(self) -> None:
        """Close connectors and the store."""
        for c in self.connectors.values():
            try:
                c.close()
            except Exception:  # noqa: BLE001 - closing must not hide the real outcome
                pass
        self.store.close()


class UnstartedConnector:
    """Stands in for the connector of an account whose connector could not be built at
    start (a token variable that is unset, a token file that cannot be read ...), so the
    account is not silently skipped: each :meth:`fetch` tries to build it again and, while
    that fails, raises a permanent ``ConnectorError(kind="auth")``, so the pipeline pauses
    the account and queues one ``reconnect`` alert, as for a refused token. Once the
    secret is fixed, ``school-monitor check`` resumes the account and the next poll builds
    the real connector.

    :param cfg: the account's :class:`monitor.config.AccountConfig`.
    :param build: builds the real connector (``connectors.build_connector`` with the
        app's keyword arguments); raises when it cannot.
    :param error: what went wrong at start, for the first message.
    """

    def __init__(self, cfg: AccountConfig, build: Callable[[], Any], error: BaseException):
        from monitor.domain import Account

        self.cfg = cfg
        self.account = Account(key=cfg.name, platform=cfg.platform, external_id=cfg.external_id,
                               display_name=cfg.name)
        self._build = build
        self._real: Any = None
        self.error = error

    def _connector(self) -> Any:
        from connectors.base import ConnectorError

        if self._real is None:
            try:
                self._real = self._build()
            except ConnectorError as exc:
                self.error = exc
                raise ConnectorError(f"cannot start the {self.cfg.platform} connector of account "
                                     f"{self.cfg.name!r}: {exc.args[0]}", platform=exc.platform, kind="auth",
                                     permanent=True, status=exc.status, code=exc.code) from None
            except Exception as exc:  # noqa: BLE001 - any start failure keeps the account paused, named
                self.error = exc
                raise ConnectorError(f"cannot start the {self.cfg.platform} connector of account "
                                     f"{self.cfg.name!r}: {exc}", platform=self.cfg.platform, kind="auth",
                                     permanent=True) from None
        return self._real

    def fetch(self, ctx: Any) -> Any:
        """Build the real connector if possible and poll with it.

        :raises connectors.base.ConnectorError: permanent ``auth`` while it cannot be built."""
        return self._connector().fetch(ctx)

    def check(self) -> Any:
        """The real connector's checks (raises like :meth:`fetch` while it cannot be built)."""
        return self._connector().check()

    def hide(self, comment_id: str, hidden: bool = True) -> None:
        """The real connector's :meth:`hide`."""
        self._connector().hide(comment_id, hidden)

    def block(self, author_id: str) -> str:
        """The real connector's :meth:`block`."""
        return self._connector().block(author_id)

    def close(self) -> None:
        """Close the real connector, if it was built."""
        if self._real is not None:
            self._real.close()


def build_engine_and_categoriser(config: Config) -> tuple[Any, Any]:
    """The scoring engine and the policy categoriser, each built once.

    :raises classifiers.base.ScorerError: when the configured scorer cannot load.
    """
    from classifiers import build_engine
    from classifiers.policy import Categoriser

    return build_engine(config.classifier, base_dir=config.base_dir), Categoriser(config)


def build_app(config: Config, db_path: str | Path, *, clock: Clock = system_clock,
              with_connectors: bool = True, sender: Any = None,
              connector_kwargs: Callable[[AccountConfig], dict] | None = None,
              on_alert: Callable[[int], None] | None = None) -> App:
    """Open the store and build every part for ``config``.

    :param sender: mail sender for the outbox (default: SMTP from ``[alerts.smtp]``).
    :param connector_kwargs: extra keyword arguments per account (tests, demo).
    :raises monitor.store.StoreError: the store cannot be opened.
    :raises classifiers.base.ScorerError: the scorer cannot be loaded.
    """
    log = get_logger()
    store = Store.open(db_path)
    engine, categoriser = build_engine_and_categoriser(config)
    pipeline = Pipeline(config, store, engine, categoriser, clock=clock, on_alert=on_alert)
    app = App(config=config, store=store, pipeline=pipeline, clock=clock)
    if with_connectors:
        from connectors import build_connector

        for acc in app.enabled_accounts():
            kwargs = connector_kwargs(acc) if connector_kwargs else {}
            try:
                app.connectors[acc.name] = build_connector(acc, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a bad secret or config: reported per account
                msg = f"account {acc.name}: cannot start the {acc.platform} connector: {exc}"
                app.connector_errors[acc.name] = msg
                log.error("connector_unavailable", account=acc.name, error=str(exc),
                          hint="the account is paused at its first poll; fix the secret, then run "
                               "`school-monitor check`")
                # polled like any account, so it is PAUSED with a reconnect alert, never skipped
                app.connectors[acc.name] = UnstartedConnector(
                    acc, lambda acc=acc, kwargs=kwargs: build_connector(acc, **kwargs), exc)
    from monitor.delivery.mailer import SmtpSender
    from monitor.delivery.outbox import Outbox
    from monitor.delivery.reports import ReportJob

    app.outbox = Outbox(config, store, sender or SmtpSender(config.alerts.smtp), clock)
    app.report_job = ReportJob(config, store, app.outbox, clock)
    return app
