"""Acknowledging an escalation stops the outbox repeating it (the real outbox, a recording
sender, an injected clock)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import review_storebuilder as sb

from monitor.casework import review
from monitor.delivery.outbox import Outbox


class RecordingSender:
    def __init__(self):
        self.sent = []

    def send(self, msg, recipients):
        self.sent.append(msg["Subject"])


@pytest.fixture
def outbox_for(builder):
    def make(clock):
        cfg = sb.config()
        cfg = replace(cfg, alerts=replace(cfg.alerts, recipients={"coordinator": ("dsl@school.example",),
                                                                   "headteacher": ("head@school.example",),
                                                                   "safeguarding_lead": ("dsl@school.example",)},
                                          repeat_minutes=240))
        sender = RecordingSender()
        return Outbox(cfg, builder.store, sender, clock), sender
    return make


@pytest.mark.parametrize("acknowledge", [False, True])
def test_escalation_repeats_until_acknowledged(builder, outbox_for, acknowledge):
    now = {"t": sb.T0 + timedelta(minutes=1)}
    outbox, sender = outbox_for(lambda: now["t"])
    aid = builder.add(sb.make_comment("1000_1_1", "I'll be waiting at the gates for him"), ("threat_violence",))[0]
    outbox.deliver()
    assert len(sender.sent) == 1
    if acknowledge:
        review.ack(builder.store, aid, actor="dsl", now=now["t"] + timedelta(minutes=30))
    now["t"] += timedelta(hours=4, minutes=5)
    outbox.deliver()
    assert len(sender.sent) == (1 if acknowledge else 2)
