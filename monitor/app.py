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

        :raises KeyError: when the account is unknown or its connector could not be built
            (the message says why, e.g. a credential that cannot be read).
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
                log.error("connector_unavailable", account=acc.name, error=str(exc))
    from monitor.mailer import SmtpSender
    from monitor.outbox import Outbox
    from monitor.reports import ReportJob

    app.outbox = Outbox(config, store, sender or SmtpSender(config.alerts.smtp), clock)
    app.report_job = ReportJob(config, store, app.outbox, clock)
    return app
