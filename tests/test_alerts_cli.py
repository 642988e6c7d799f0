"""Alerts from the command line: `sync` with a toefl-access.toml, `alerts test`,
`alerts list`, `config`; and e-mail over STARTTLS with a login."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from receivers import free_port, self_signed, smtp_receiver, webhook_receiver
from support import away_from_the_user

from toefl_access.api.dates import UTC, api_format
from toefl_access.cli import main
from toefl_access.errors import UsageError
from toefl_access.mock import DEMO_AUTHCODE, MockApi, serve
from toefl_access.ops.alerts import trial_message
from toefl_access.ops.notify import Email, deliver
from toefl_access.settings import load

WRONG_KEY = base64.b64encode(b"old-client:old-secret").decode()
TOKEN = "/hooks/T9/B9/xoxb-s3cr3t"


@pytest.fixture(autouse=True)
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder without the user's variables."""
    away_from_the_user(tmp_path, monkeypatch)


@pytest.fixture
def mock_url() -> Iterator[str]:
    with serve(MockApi(seed=0, per_day=5)) as url:
        yield url


def cli(*args: str, key: str | None = DEMO_AUTHCODE, base_url: str = "",
        **env: str) -> Result:  # fmt: skip
    """The command, with ``key`` (None: no key in the environment) and more ``env``."""
    env = {"TOEFL_ACCESS_AUTHCODE": key or "", "TOEFL_ACCESS_BASE_URL": base_url,
           "COLUMNS": "250", **env}  # fmt: skip
    if key is None:
        del env["TOEFL_ACCESS_AUTHCODE"]
    return CliRunner(env=env).invoke(main, list(args))


def errors(result: Result) -> list[str]:
    """The error lines a command printed on stderr."""
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def write_config(folder: Path, webhook: str, smtp_port: int | None = None) -> None:
    text = f'db = "sqlite:///{folder}/scores.db"\n[alerts]\nwebhook = "{webhook}"\n'
    if smtp_port:
        text += (f'email_to = "oncall@example.edu, dean@example.edu"\n'
                 f'smtp_host = "127.0.0.1"\nsmtp_port = {smtp_port}\n')  # fmt: skip
    (folder / "toefl-access.toml").write_text(text, encoding="utf-8")


def since() -> str:
    return api_format(dt.datetime.now(UTC) - dt.timedelta(days=3))


def test_sync_alerts_from_the_settings_file_and_a_dead_webhook_never_fails_it(
    tmp_path: Path, mock_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="toefl_access.ops.alerts")
    port = free_port()
    with smtp_receiver() as mailbox:
        write_config(tmp_path, f"http://127.0.0.1:{port}{TOKEN}", mailbox.port)
        # the key is refused; nothing listens at the webhook: the exit code is still 2
        first = cli("sync", "--since", since(), key=WRONG_KEY, base_url=mock_url)
        assert first.exit_code == 2, first.output
        assert "Alert key_refused (open) sent by email." in first.stderr
        warned = caplog.text  # the warning on stderr, from the library's log
        assert "alert key_refused (open) not delivered by webhook: webhook http" in warned
        assert "xoxb-s3cr3t" not in first.output + warned and f"127.0.0.1:{port}/***" in warned
        assert mailbox.subjects() == ["[toefl-access] key refused (open)"]
        assert mailbox.envelopes[0][1] == ["oncall@example.edu", "dean@example.edu"]

    write_config(tmp_path, f"http://127.0.0.1:{port}{TOKEN}")  # e-mail off, webhook only
    first_alert = json.loads(cli("alerts", "list", "--format", "json").stdout.splitlines()[0])
    assert first_alert["delivered"]["email"] == "ok"  # e-mail took it: not sent again
    with webhook_receiver(port=port, path=TOKEN) as hook:
        again = cli("sync", "--since", since(), key=WRONG_KEY, base_url=mock_url)
        assert again.exit_code == 2 and hook.raw == []
        good = cli("sync", "--since", since(), base_url=mock_url)
        assert good.exit_code == 0, good.output
        assert "Alert key_refused (resolved) sent by webhook." in good.stderr
        assert hook.events() == [("key_refused", "resolved")] and hook.paths == [TOKEN]
        assert cli("sync", base_url=mock_url).exit_code == 0
        assert len(hook.raw) == 1
    # the webhook is gone again and the key refused: still exit 2, the alert kept for later
    caplog.clear()
    refused = cli("sync", "--since", since(), key=WRONG_KEY, base_url=mock_url)
    assert refused.exit_code == 2
    assert "not delivered by webhook; the next run sends it again" in caplog.text
    with webhook_receiver(port=port, path=TOKEN) as hook:
        assert cli("sync", "--since", since(), key=WRONG_KEY, base_url=mock_url).exit_code == 2
        assert hook.events() == [("key_refused", "open")]
        for secret in (WRONG_KEY, DEMO_AUTHCODE, "old-secret", "demo-secret"):
            assert secret.encode() not in b"".join(hook.raw)

    listed = cli("alerts", "list")
    assert listed.exit_code == 0, listed.output
    assert "key_refused" in listed.stdout and "open (current)" in listed.stdout
    assert "resolved" in listed.stdout and "webhook failed" in listed.stdout
    rows = [json.loads(line) for line in cli("alerts", "list", "--format", "json").stdout
            .splitlines()]  # fmt: skip
    assert [(r["status"], r["current"]) for r in rows] == [
        ("open", True), ("resolved", False), ("open", False)]


def test_a_sync_with_nothing_to_alert_sends_nothing(tmp_path: Path, mock_url: str) -> None:
    with webhook_receiver() as hook:
        write_config(tmp_path, hook.url)
        result = cli("sync", "--since", since(), base_url=mock_url)
        assert result.exit_code == 0, result.output
        assert "Alert" not in result.stderr and hook.raw == []
    assert cli("alerts", "list").stdout.strip() == "No alerts recorded yet."


def test_a_sync_that_cannot_run_alerts_once_and_keeps_its_error_and_exit_code(
    tmp_path: Path, mock_url: str
) -> None:
    missing = str(tmp_path / "no-such-key")
    no_key = {"TOEFL_ACCESS_AUTHCODE_FILE": missing}  # and no TOEFL_ACCESS_AUTHCODE
    # without alerts, in another database: the error and exit code the sync always had
    (tmp_path / "toefl-access.toml").write_text(f'db = "sqlite:///{tmp_path}/plain.db"\n')
    plain = cli("sync", key=None, base_url=mock_url, **no_key)
    assert plain.exit_code == 1
    assert errors(plain) == [f"Error: TOEFL_ACCESS_AUTHCODE_FILE names {missing!r}, which "
                             "does not exist"]  # fmt: skip
    with webhook_receiver() as hook:
        write_config(tmp_path, hook.url)
        assert cli("sync", "--since", since(), base_url=mock_url).exit_code == 0
        failed = cli("sync", key=None, base_url=mock_url, **no_key)
        assert (failed.exit_code, errors(failed)) == (plain.exit_code, errors(plain))
        assert "Alert sync_failed (open) sent by webhook." in failed.stderr
        assert hook.events() == [("sync_failed", "open")]
        post = hook.posts[0]
        assert post["text"].startswith(f"The sync could not run: TOEFL_ACCESS_AUTHCODE_FILE "
                                       f"names {missing!r}, which does not exist.")  # fmt: skip
        assert post["details"]["error_type"] == "UsageError"
        again = cli("sync", key=None, base_url=mock_url, **no_key)
        assert (again.exit_code, errors(again)) == (plain.exit_code, errors(plain))
        assert len(hook.raw) == 1  # still the same open problem: not sent again
        good = cli("sync", base_url=mock_url)
        assert good.exit_code == 0, good.output
        assert "Alert sync_failed (resolved) sent by webhook." in good.stderr
        assert cli("sync", base_url=mock_url).exit_code == 0
        assert hook.events() == [("sync_failed", "open"), ("sync_failed", "resolved")]
        assert DEMO_AUTHCODE.encode() not in b"".join(hook.raw)


@pytest.mark.parametrize("broken", ["hash key file", "layout"])
def test_a_sync_that_fails_in_its_database_alerts_and_keeps_its_exit_code(
    tmp_path: Path, mock_url: str, broken: str
) -> None:
    missing = str(tmp_path / "nothing-here")
    args, env = ["sync"], {}
    if broken == "layout":
        (tmp_path / "bad-layout.csv").write_text("this is not a layout\n")
        args += ["--layout", str(tmp_path / "bad-layout.csv")]
    else:
        env = {"TOEFL_ACCESS_HASH_KEY_FILE": missing}
    (tmp_path / "toefl-access.toml").write_text(f'db = "sqlite:///{tmp_path}/plain.db"\n')
    assert cli("sync", "--since", since(), base_url=mock_url).exit_code == 0
    plain = cli(*args, base_url=mock_url, **env)
    assert plain.exit_code != 0 and len(errors(plain)) == 1
    with webhook_receiver() as hook:
        write_config(tmp_path, hook.url)
        assert cli("sync", "--since", since(), base_url=mock_url).exit_code == 0
        failed = cli(*args, base_url=mock_url, **env)
        assert (failed.exit_code, errors(failed)) == (plain.exit_code, errors(plain))
        assert hook.events() == [("sync_failed", "open")]
        assert errors(failed)[0].removeprefix("Error: ") in hook.posts[0]["text"]
        assert cli("sync", base_url=mock_url).exit_code == 0
        assert hook.events() == [("sync_failed", "open"), ("sync_failed", "resolved")]


def test_a_database_that_cannot_be_opened_sends_nothing_and_says_so(
    tmp_path: Path, mock_url: str
) -> None:
    (tmp_path / "scores.db").write_bytes(b"this is not a SQLite database, " * 100)
    (tmp_path / "toefl-access.toml").write_text(f'db = "sqlite:///{tmp_path}/scores.db"\n')
    plain = cli("sync", "--since", since(), base_url=mock_url)
    assert plain.exit_code != 0 and len(errors(plain)) == 1
    assert "Warning" not in plain.stderr  # no channel: nothing to say about alerts
    with webhook_receiver() as hook:
        write_config(tmp_path, hook.url)
        failed = cli("sync", "--since", since(), base_url=mock_url)
        assert (failed.exit_code, errors(failed)) == (plain.exit_code, errors(plain))
        assert "Warning: no alert was sent about this failed sync: alerts are recorded in the " \
            "database before they are sent, and it cannot be opened (see the error below)." \
            in failed.stderr
        assert hook.raw == []


def test_alerts_test_reports_each_channel(tmp_path: Path) -> None:
    with webhook_receiver() as hook, smtp_receiver() as mailbox:
        write_config(tmp_path, hook.url, mailbox.port)
        result = cli("alerts", "test")
        assert result.exit_code == 0, result.output
        assert "webhook: ok (webhook http://127.0.0.1:" in result.stdout
        assert "email: ok (e-mail to oncall@example.edu, dean@example.edu via 127.0.0.1:" \
            in result.stdout
        assert hook.events() == [("test", "open")]
        assert "Nothing is wrong" in hook.posts[0]["text"]
        assert mailbox.subjects() == ["[toefl-access] test (open)"]
    dead = free_port()
    write_config(tmp_path, f"http://127.0.0.1:{dead}{TOKEN}", free_port())
    result = cli("alerts", "test")
    assert result.exit_code == 1
    assert "webhook: FAILED: webhook http://127.0.0.1:" in result.stdout
    assert "email: FAILED: e-mail via 127.0.0.1:" in result.stdout
    assert "s3cr3t" not in result.output
    (tmp_path / "toefl-access.toml").write_text("")
    nothing = cli("alerts", "test")
    assert nothing.exit_code == 1 and "no alert channel is configured" in nothing.stderr


def test_config_shows_the_alert_settings_and_masks_the_webhook(tmp_path: Path) -> None:
    (tmp_path / "toefl-access.toml").write_text(
        '[alerts]\nemail_to = ["a@example.edu"]\nsmtp_user = "feed"\n'
        'smtp_password_file = "/etc/pw"\nmonths = ["Mar", "apr", 5]\nfailing_runs = 5\n'
    )
    env = {"TOEFL_ACCESS_ALERT_WEBHOOK": "https://hooks.slack.com/services/T0/B0/zzSECRETzz",
           "COLUMNS": "250"}  # fmt: skip
    result = CliRunner(env=env).invoke(main, ["config"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "zzSECRETzz" not in out and "https://hooks.slack.com/***" in out
    assert "env TOEFL_ACCESS_ALERT_WEBHOOK" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    assert "587" in rows["alerts.smtp_port"] and "default" in rows["alerts.smtp_port"]
    assert "Mar, Apr, May" in rows["alerts.months"]
    assert "5" in rows["alerts.failing_runs"] and "toefl-access.toml" in rows["alerts.failing_runs"]
    assert "read from /etc/pw" in rows["alerts.smtp_password_file"]
    assert "7" in rows["alerts.no_new_reports_days"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[alerts]\nwebhok = "x"\n', "unknown setting alerts.webhok"),
        ('[alerts]\nwebhook = "ftp://h/tok3n"\n', "must be an https://"),
        ('[alerts]\nemail_to = "nobody"\n', "not an e-mail address"),
        ('[alerts]\nmonths = ["Smarch"]\n', "not a month"),
        ('[alerts]\nmonths = [13]\n', "not a month"),
        ('[alerts]\nfailing_runs = 0\n', "from 1 to 1000"),
        ('[alerts]\nsmtp_user = "me"\n', "needs both smtp_user and smtp_password_file"),
        ('[alerts]\nlayout_warnings_points = -1\n', "percentage points"),
        ('alerts = "https://h/tok3n"\n', "alerts must be a table"),
    ],
)
def test_bad_alert_settings_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    conf = tmp_path / "bad.toml"
    conf.write_text(text)
    with pytest.raises(UsageError, match=message) as info:
        load(config=str(conf), env={})
    assert "tok3n" not in str(info.value)


def test_email_uses_starttls_and_logs_in_with_the_password_file(tmp_path: Path) -> None:
    server_tls, client_tls = self_signed(tmp_path)
    password = tmp_path / "smtp-password"
    password.write_text("first-pa55\n")
    with smtp_receiver(tls_context=server_tls, users={"feed": "first-pa55"}) as box:
        email = Email(to=["oncall@example.edu"], host="127.0.0.1", port=box.port,
                      sender="toefl@example.edu", user="feed", password_file=str(password),
                      ssl_context=client_tls)  # fmt: skip
        assert deliver(trial_message("sqlite:///x.db"), [email]) == {"email": "ok"}
        assert box.tls == [True] and box.logins == [("feed", "first-pa55")]
        password.write_text("wrong-pa55\n")  # read again at each send
        said = deliver(trial_message("sqlite:///x.db"), [email])["email"]
        assert "refused the login of 'feed'" in said and "pa55" not in said
        assert box.logins[-1] == ("feed", "wrong-pa55")
        tried = len(box.logins)
        # a certificate the client does not trust: no password goes out
        untrusting = Email(to=["oncall@example.edu"], host="127.0.0.1", port=box.port,
                           sender="toefl@example.edu", user="feed",
                           password_file=str(password),
                           ssl_context=ssl.create_default_context())  # fmt: skip
        said = deliver(trial_message("sqlite:///x.db"), [untrusting])["email"]
        assert "TLS failed" in said
        assert len(box.logins) == tried
        password.unlink()
        said = deliver(trial_message("sqlite:///x.db"), [email])["email"]
        assert "cannot read smtp_password_file" in said
