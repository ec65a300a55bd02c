"""Senders against a real SMTP server (aiosmtpd on 127.0.0.1) and a mail folder."""

from __future__ import annotations

from dataclasses import replace
from email.message import EmailMessage

import pytest
from alerts_support import SmtpServer, authenticator, free_port, make_config

from monitor.delivery.mailer import DeliveryError, MailDirSender, SmtpSender, TeeSender, eml_filename, sender_from_config


def message(mid: str = "<m1@brookfield.test>") -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = "test"
    msg["From"] = "monitor@brookfield.test"
    msg["To"] = "coord@school.test"
    msg["Message-ID"] = mid
    msg.set_content("hello ✓")
    return msg


def test_smtp_sender_delivers_to_envelope_recipients(tmp_path, smtp_server):
    cfg = make_config(tmp_path, port=smtp_server.port)
    SmtpSender(cfg.alerts.smtp).send(message(), ["coord@school.test", "head@school.test"])
    [got] = smtp_server.messages
    assert got["to"] == ["coord@school.test", "head@school.test"]
    assert got["msg"]["Message-ID"] == "<m1@brookfield.test>"
    assert got["msg"].get_content().strip() == "hello ✓"


def test_connection_refused_is_transient(tmp_path):
    cfg = make_config(tmp_path, port=free_port())
    with pytest.raises(DeliveryError) as err:
        SmtpSender(cfg.alerts.smtp).send(message(), ["coord@school.test"])
    assert err.value.permanent is False and err.value.reason == "connect"
    assert "127.0.0.1" in str(err.value)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_authentication_failure_is_permanent_and_names_no_password(tmp_path, monkeypatch):
    server = SmtpServer(authenticator=authenticator("alerts", "right-password-123"), auth_required=True,
                        auth_require_tls=False).start()
    try:
        monkeypatch.setenv("SM_TEST_SMTP_PASSWORD", "wrong-password-456")
        cfg = make_config(tmp_path, port=server.port, username="alerts", password_env="SM_TEST_SMTP_PASSWORD")
        sender = SmtpSender(cfg.alerts.smtp)
        with pytest.raises(DeliveryError) as err:
            sender.send(message(), ["coord@school.test"])
        assert err.value.permanent and err.value.reason == "auth" and err.value.smtp_code == 535
        assert "authentication failed for user 'alerts'" in str(err.value)
        assert "SM_TEST_SMTP_PASSWORD" in str(err.value)          # where to fix it
        assert "wrong-password-456" not in str(err.value)
        assert server.messages == []

        monkeypatch.setenv("SM_TEST_SMTP_PASSWORD", "right-password-123")
        assert sender.check() == f"127.0.0.1:{server.port} no TLS, authenticated as alerts"
        sender.send(message(), ["coord@school.test"])
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_missing_password_secret_is_a_clear_permanent_error(tmp_path, monkeypatch, smtp_server):
    monkeypatch.delenv("SM_TEST_UNSET", raising=False)
    cfg = make_config(tmp_path, port=smtp_server.port, username="alerts", password_env="SM_TEST_UNSET")
    with pytest.raises(DeliveryError) as err:
        SmtpSender(cfg.alerts.smtp).send(message(), ["coord@school.test"])
    assert err.value.reason == "secret" and "SM_TEST_UNSET" in str(err.value)


def test_starttls_required_but_not_offered(tmp_path, smtp_server):
    cfg = make_config(tmp_path, port=smtp_server.port)
    smtp = replace(cfg.alerts.smtp, security="starttls")
    with pytest.raises(DeliveryError) as err:
        SmtpSender(smtp).send(message(), ["coord@school.test"])
    assert err.value.reason == "tls" and err.value.permanent
    assert "does not offer STARTTLS" in str(err.value)
    assert smtp_server.messages == []


def test_maildir_sender_names_files_by_message_id_so_a_resend_replaces(tmp_path):
    sender = MailDirSender(tmp_path / "mail")
    sender.send(message("<sm.urgent.1.abc@brookfield.test>"), ["coord@school.test"])
    sender.send(message("<sm.urgent.1.abc@brookfield.test>"), ["coord@school.test"])
    sender.send(message("<sm.urgent.2.def@brookfield.test>"), ["coord@school.test"])
    files = sorted(p.name for p in (tmp_path / "mail").iterdir())
    assert files == ["sm.urgent.1.abc_brookfield.test.eml", "sm.urgent.2.def_brookfield.test.eml"]
    assert b"\r\nMessage-ID: <sm.urgent.1.abc@brookfield.test>\r\n" in (tmp_path / "mail" / files[0]).read_bytes()
    assert eml_filename(message("<a/../b@x>")) == "a_.._b_x.eml"


def test_maildir_sender_unwritable_is_transient(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DeliveryError) as err:
        MailDirSender(blocker / "mail").send(message(), ["coord@school.test"])
    assert err.value.reason == "io" and not err.value.permanent


def test_sender_from_config_copies_to_mail_dir(tmp_path, smtp_server):
    cfg = make_config(tmp_path, port=smtp_server.port, mail_dir="sent-mail")
    sender = sender_from_config(cfg)
    assert isinstance(sender, TeeSender)
    sender.send(message(), ["coord@school.test"])
    assert len(smtp_server.messages) == 1
    assert [p.name for p in (tmp_path / "sent-mail").iterdir()] == ["m1_brookfield.test.eml"]


# TLS: tests/fixtures/alerts holds a test-only CA certificate (its key was discarded) and a
# server certificate and key for 127.0.0.1 signed by it (valid to 2126).
FIXTURES = __import__("pathlib").Path(__file__).parent.parent / "fixtures" / "alerts"


def server_context():
    import ssl

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(FIXTURES / "test-server.pem", FIXTURES / "test-server.key")
    return ctx


def test_starttls_verifies_the_server_against_ca_file(tmp_path):
    server = SmtpServer(tls_context=server_context(), require_starttls=True).start()
    try:
        cfg = make_config(tmp_path, port=server.port)
        verified = replace(cfg.alerts.smtp, security="starttls", ca_file=str(FIXTURES / "test-ca.pem"))
        assert SmtpSender(verified).check() == f"127.0.0.1:{server.port} STARTTLS"
        SmtpSender(verified).send(message(), ["coord@school.test"])
        assert len(server.messages) == 1
        # the same server is refused when its certificate is not trusted (system CAs only)
        with pytest.raises(DeliveryError) as err:
            SmtpSender(replace(verified, ca_file=None)).send(message(), ["coord@school.test"])
        assert err.value.reason == "tls" and err.value.permanent and "CERTIFICATE_VERIFY_FAILED" in str(err.value)
        # and plain text is refused by a server that requires STARTTLS
        with pytest.raises(DeliveryError):
            SmtpSender(replace(verified, security="none")).send(message(), ["coord@school.test"])
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_implicit_tls(tmp_path):
    server = SmtpServer(ssl_context=server_context()).start()
    try:
        cfg = make_config(tmp_path, port=server.port)
        smtp = replace(cfg.alerts.smtp, security="tls", ca_file=str(FIXTURES / "test-ca.pem"))
        SmtpSender(smtp).send(message(), ["coord@school.test"])
        assert len(server.messages) == 1
        with pytest.raises(DeliveryError) as err:
            SmtpSender(replace(smtp, ca_file=None)).send(message(), ["coord@school.test"])
        assert err.value.reason == "tls"
    finally:
        server.stop()
