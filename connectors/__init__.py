"""Platform connectors. :func:`build_connector` is the one way the rest of the program
gets a connector for an ``[[accounts]]`` entry."""

from __future__ import annotations

from typing import Any

from connectors.base import Connector, ConnectorError


def build_connector(cfg: Any, **kwargs: Any) -> Connector:
    """Build the connector for one :class:`monitor.config.AccountConfig`.

    Keyword arguments (transports, clocks, sleep functions for tests) are passed on.

    :raises ConnectorError: ``kind="auth"`` when a credential cannot be read (the message
        names the config key and source, never the value).
    :raises ValueError: for an unknown platform.
    """
    if cfg.platform == "facebook":
        from connectors.facebook import FacebookConnector

        return FacebookConnector(cfg, **kwargs)
    if cfg.platform == "twitter":
        from connectors.twitter import TwitterConnector

        return TwitterConnector(cfg, **kwargs)
    if cfg.platform == "instagram":
        from connectors.instagram import InstagramConnector

        return InstagramConnector(cfg, **kwargs)
    raise ValueError(f"unknown platform {cfg.platform!r}")


__all__ = ["Connector", "ConnectorError", "build_connector"]
