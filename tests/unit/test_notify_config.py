"""The notifications file: what it accepts, and one line saying what is wrong otherwise."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from gatepass.process.args import parse_args
from gatepass.notify.config import (DEFAULT_PAGERDUTY_EVENTS_URL, DEFAULT_SLACK_API_URL, ConfigError,
                                    PagerDutyReceiver, SlackReceiver, WebhookReceiver, load)

GOOD = """\
expiringBefore: 15m
receivers:
  - name: ops-webhook
    webhook: {url: "https://ops.example.com/gatepass", secretFile: webhook-secret, timeout: 3s}
  - name: slack
    slack: {apiUrl: "https://slack.example.com/api", tokenEnv: SLACK_TOKEN,
            signingSecretFile: /abs/ignored, channel: "#access-requests"}
  - name: pagerduty
    pagerduty: {routingKeyEnv: PD_KEY}
"""


def write(folder: Path, text: str, **files: str) -> Path:
    for name, content in files.items():
        (folder / name).write_text(content)
    path = folder / "notifications.yaml"
    path.write_text(text)
    return path


def test_a_complete_file(tmp_path):
    (tmp_path / "signing").write_text("  sign-me \n")
    text = GOOD.replace("/abs/ignored", str(tmp_path / "signing"))
    config = load(write(tmp_path, text, **{"webhook-secret": "hook-secret\n"}),
                  env={"SLACK_TOKEN": "xoxb-1", "PD_KEY": "pd-key"})
    assert config.expiring_before == timedelta(minutes=15)
    assert list(config.receivers) == ["ops-webhook", "slack", "pagerduty"]
    assert config.receivers["ops-webhook"] == WebhookReceiver(
        name="ops-webhook", url="https://ops.example.com/gatepass", secret="hook-secret", timeout=timedelta(seconds=3))
    [slack] = config.slack_receivers()
    assert slack == SlackReceiver(name="slack", api_url="https://slack.example.com/api/", token="xoxb-1",
                                  signing_secret="sign-me", channel="#access-requests")
    assert config.receivers["pagerduty"] == PagerDutyReceiver(
        name="pagerduty", events_url=DEFAULT_PAGERDUTY_EVENTS_URL, routing_key="pd-key")


def test_secrets_are_not_in_the_repr(tmp_path):
    config = load(write(tmp_path, "receivers: [{name: s, slack: {tokenEnv: T, signingSecretEnv: S}}]"),
                  env={"T": "xoxb-secret", "S": "signing-secret"})
    assert "secret" not in repr(config).replace("signing_secret", "")


def test_defaults(tmp_path):
    config = load(write(tmp_path, "receivers: [{name: s, slack: {tokenEnv: T}}]"), env={"T": "x"})
    [slack] = config.slack_receivers()
    assert (slack.api_url, slack.signing_secret, slack.channel) == (DEFAULT_SLACK_API_URL, None, None)
    assert config.expiring_before == timedelta(minutes=10)
    assert load(write(tmp_path, "")).receivers == {}


def test_null_means_the_default_and_max_backoff_follows_a_long_initial_backoff(tmp_path):
    config = load(write(tmp_path, "expiringBefore: null\ndelivery: {initialBackoff: 2m}\nreceivers: null"))
    assert (config.expiring_before, config.receivers) == (timedelta(minutes=10), {})
    assert (config.delivery.attempts, config.delivery.max_backoff) == (8, timedelta(minutes=2))


def test_the_flag(tmp_path):
    assert parse_args(["--notifications", "/etc/gatepass/notifications.yaml"]).notifications == \
        "/etc/gatepass/notifications.yaml"
    assert parse_args([]).notifications is None


@pytest.mark.parametrize("text, env, message", [
    ("receivers: {}", {}, "receivers: must be a list"),
    ("receivers: [{webhook: {}}]", {}, "receivers[0]: name is required"),
    ("receivers: [{name: Ops_Hook, webhook: {}}]", {}, "receivers[0]: name 'Ops_Hook' must be a DNS label"),
    ("receivers: [{name: x}]", {}, "receivers[0] (x): needs exactly one of webhook, slack or pagerduty"),
    ("receivers: [{name: x, slack: {tokenEnv: T}, pagerduty: {routingKeyEnv: T}}]", {"T": "t"},
     "receivers[0] (x): needs exactly one of webhook, slack or pagerduty, not slack and pagerduty"),
    ("receivers: [{name: x, email: {}}]", {}, "receivers[0] (x): email: unknown key"),
    ("receivers: [{name: x, webhook: {secretEnv: S}}]", {"S": "s"}, "receivers[0] (x): webhook.url: is required"),
    ("receivers: [{name: x, webhook: {url: 'ftp://h/', secretEnv: S}}]", {"S": "s"},
     "receivers[0] (x): webhook.url: 'ftp://h/' is not an http(s) URL"),
    ("receivers: [{name: x, webhook: {url: 'http://h/'}}]", {},
     "receivers[0] (x): webhook.secretFile: is required (or secretEnv)"),
    ("receivers: [{name: x, webhook: {url: 'http://h/', secretEnv: NOPE}}]", {},
     "receivers[0] (x): webhook.secretEnv: the environment variable NOPE is not set or empty"),
    ("receivers: [{name: x, webhook: {url: 'http://h/', secretFile: missing}}]", {},
     "receivers[0] (x): webhook.secretFile: cannot read"),
    ("receivers: [{name: x, webhook: {url: 'http://h/', secretFile: f, secretEnv: S}}]", {"S": "s"},
     "receivers[0] (x): webhook.secretFile: set secretFile or secretEnv, not both"),
    ("receivers: [{name: x, webhook: {url: 'http://h/', secretEnv: S, timeout: 0}}]", {"S": "s"},
     "receivers[0] (x): webhook.timeout: must be more than zero"),
    ("receivers: [{name: x, slack: {tokenEnv: T, chanel: '#a'}}]", {"T": "t"},
     "receivers[0] (x): slack.chanel: unknown key"),
    ("receivers: [{name: x, slack: {signingSecretEnv: T}}]", {"T": "t"},
     "receivers[0] (x): slack.tokenFile: is required (or tokenEnv)"),
    ("receivers: [{name: x, pagerduty: {}}]", {}, "receivers[0] (x): pagerduty.routingKeyFile: is required"),
    ("receivers: [{name: x, pagerduty: {routingKeyEnv: T}}, {name: x, pagerduty: {routingKeyEnv: T}}]", {"T": "t"},
     "receivers[1]: the name 'x' is used twice"),
    ("receivers: [{name: x, webhook: {url: 'http://h/', secret: s}}]", {},
     "receivers[0] (x): webhook.secret: unknown key (expected one of url, secretFile, secretEnv, timeout)"),
    ("receivers: [{name: x, webhook: {name: y, url: 'http://h/', secretEnv: S}}]", {"S": "s"},
     "receivers[0] (x): webhook.name: unknown key"),
    ("receivers: [{name: x, slack: {tokenEnv: T, channel: ''}}]", {"T": "t"},
     "receivers[0] (x): slack.channel must be a channel ID or #name"),
    ("receivers: [{name: x, webhook: []}]", {}, "receivers[0] (x): webhook: must be a mapping, not list"),
    ("receivers: [7]", {}, "receivers[0]: must be a mapping, not int"),
    ("delivery: {attempts: true}", {}, "delivery.attempts: must be a whole number from 1 to 100, not True"),
    ("delivery: {initialBackoff: 2s, maxBackoff: 1s}", {}, "delivery.maxBackoff: must be at least initialBackoff"),
    ("delivery: [1]", {}, "delivery: must be a mapping, not list"),
    ("expiringBefore: 1d", {}, 'expiringBefore: invalid duration "1d"'),
    ("expiringBefore: -5m", {}, "expiringBefore: must be at least zero"),
    ("receiver: []", {}, "receiver: unknown key"),
    ("[1, 2]", {}, "the file: must be a mapping"),
    ("receivers: [1", {}, "not valid YAML at line 1"),
])
def test_errors_are_one_line_naming_the_place(tmp_path, text, env, message):
    (tmp_path / "f").write_text("")  # an empty secret file, for the both-set case
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load(path, env=env)
    error = str(raised.value)
    assert "\n" not in error
    assert error.startswith(f"notifications file {path}: ")
    assert message in error, error


def test_an_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match=r"notifications file .*missing.yaml: cannot read it"):
        load(tmp_path / "missing.yaml")


def test_an_empty_secret_file_is_an_error(tmp_path):
    path = write(tmp_path, "receivers: [{name: x, pagerduty: {routingKeyFile: key}}]", key="\n")
    with pytest.raises(ConfigError, match=r"pagerduty.routingKeyFile: .*key is empty"):
        load(path)


def test_the_ui_url_is_the_web_ui_s_base_without_a_trailing_slash(tmp_path):
    assert load(write(tmp_path, "ui: {url: 'https://gatepass.example.com/'}")).ui_url == "https://gatepass.example.com"
    assert load(write(tmp_path, "ui: {url: 'https://example.com/gatepass'}")).ui_url == "https://example.com/gatepass"
    assert load(write(tmp_path, "")).ui_url is None
    assert load(write(tmp_path, "ui: {url: null}")).ui_url is None


@pytest.mark.parametrize("text, message", [
    ("ui: {url: 'gatepass.example.com'}", "ui.url: 'gatepass.example.com' is not an http(s) URL"),
    ("ui: {url: 'https://g.example.com/?x=1'}", "ui.url: 'https://g.example.com/?x=1' must be a base URL"),
    ("ui: {link: 'https://g.example.com'}", "ui.link: unknown key (expected one of url)"),
    ("ui: 'https://g.example.com'", "ui: must be a mapping, not str"),
])
def test_a_bad_ui_url_is_one_line_naming_the_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load(path)
    assert str(raised.value).startswith(f"notifications file {path}: {message}")
