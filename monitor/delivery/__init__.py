"""Delivery: what leaves the monitor for people.

- :mod:`~monitor.delivery.alerts`: alert records (escalations, block recommendations) and
  their text.
- :mod:`~monitor.delivery.outbox`: the durable outbox; an alert is stored before it is sent
  and retried until delivered.
- :mod:`~monitor.delivery.mailer`: SMTP delivery.
- :mod:`~monitor.delivery.reports`: the weekly report.
- :mod:`~monitor.delivery.smtp_sink`: a loopback SMTP server (aiosmtpd) for the demo and tests.
"""
