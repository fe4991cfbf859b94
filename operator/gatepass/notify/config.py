"""The notifications configuration: the receivers, their URLs and secrets, read once at start-up.

The operator's ``--notifications FILE`` names a YAML file (in a cluster, a key
of a mounted Secret)::

    expiringBefore: 10m          # when "Expiring" is sent, before expiresAt
    delivery: {attempts: 8, initialBackoff: 1s, maxBackoff: 60s}   # optional; these are the defaults
    receivers:
      - name: ops-webhook
        webhook: {url: https://ops.example.com/gatepass, secretFile: webhook-secret, timeout: 5s}
      - name: slack
        slack: {apiUrl: https://slack.com/api/, tokenEnv: SLACK_TOKEN,
                signingSecretFile: slack-signing-secret, channel: "#access-requests"}
      - name: pagerduty
        pagerduty: {eventsUrl: https://events.pagerduty.com/v2/enqueue, routingKeyFile: pd-key}

Every secret comes from a file (``...File``, relative to the configuration
file's folder unless absolute) or an environment variable (``...Env``), never
from the file itself. Anything wrong is a ``ConfigError`` with one line naming
the file, the receiver and the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Union
from urllib.parse import urlparse

import yaml

from gatepass.core.durations import parse_duration

DEFAULT_EXPIRING_BEFORE = timedelta(minutes=10)
DEFAULT_ATTEMPTS = 8
DEFAULT_INITIAL_BACKOFF = timedelta(seconds=1)
DEFAULT_MAX_BACKOFF = timedelta(seconds=60)
DEFAULT_TIMEOUT = timedelta(seconds=5)
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
KINDS = ("webhook", "slack", "pagerduty")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


class ConfigError(ValueError):
    """The notifications configuration cannot be used; the message is one line."""


@dataclass(frozen=True)
class WebhookReceiver:
    """POSTs signed JSON to ``url``."""

    name: str
    url: str
    secret: str = field(repr=False)
    timeout: timedelta = DEFAULT_TIMEOUT
    kind: str = "webhook"


@dataclass(frozen=True)
class SlackReceiver:
    """Posts to a Slack workspace with a bot token; ``signing_secret`` (None when not set) enables the
    Approve and Deny buttons, whose clicks Slack signs with it."""

    name: str
    api_url: str
    token: str = field(repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    channel: str | None = None
    timeout: timedelta = DEFAULT_TIMEOUT
    kind: str = "slack"


@dataclass(frozen=True)
class PagerDutyReceiver:
    """Triggers and resolves PagerDuty incidents with the Events API v2."""

    name: str
    events_url: str
    routing_key: str = field(repr=False)
    timeout: timedelta = DEFAULT_TIMEOUT
    kind: str = "pagerduty"


Receiver = Union[WebhookReceiver, SlackReceiver, PagerDutyReceiver]


@dataclass(frozen=True)
class Delivery:
    """How hard a notification is tried: ``attempts`` in all, waiting initial_backoff, then twice as long
    each time (at most max_backoff), each wait jittered down to between half and all of it."""

    attempts: int = DEFAULT_ATTEMPTS
    initial_backoff: timedelta = DEFAULT_INITIAL_BACKOFF
    max_backoff: timedelta = DEFAULT_MAX_BACKOFF


@dataclass(frozen=True)
class NotifyConfig:
    receivers: dict[str, Receiver] = field(default_factory=dict)
    expiring_before: timedelta = DEFAULT_EXPIRING_BEFORE
    delivery: Delivery = Delivery()

    def slack_receivers(self) -> list[SlackReceiver]:
        return [r for r in self.receivers.values() if isinstance(r, SlackReceiver)]


def load(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> NotifyConfig:
    """Reads and checks the file at ``path``; secrets from files next to it or from ``env``
    (default: the process environment)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"notifications file {path}: cannot read it: {error.strerror or error}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ConfigError(f"notifications file {path}: not valid YAML{where}: {problem}") from None
    try:
        return parse(data, base=path.parent, env=os.environ if env is None else env)
    except ConfigError as error:
        raise ConfigError(f"notifications file {path}: {error}") from None


def parse(data: Any, base: Path = Path("."), env: Mapping[str, str] | None = None) -> NotifyConfig:
    """The configuration in ``data`` (the YAML document); relative secret files are read from ``base``."""
    env = os.environ if env is None else env
    if data is None:
        data = {}
    top = _Section(data, "")
    top.only("expiringBefore", "delivery", "receivers")
    expiring_before = top.duration("expiringBefore", DEFAULT_EXPIRING_BEFORE)
    delivery = _delivery(top.get("delivery", {}))
    entries = top.get("receivers", [])
    if not isinstance(entries, list):
        raise ConfigError("receivers: must be a list")
    receivers: dict[str, Receiver] = {}
    for index, entry in enumerate(entries):
        receiver = _receiver(entry, index, base, env)
        if receiver.name in receivers:
            raise ConfigError(f"receivers[{index}]: the name {receiver.name!r} is used twice")
        receivers[receiver.name] = receiver
    return NotifyConfig(receivers=receivers, expiring_before=expiring_before, delivery=delivery)


def _delivery(data: Any) -> Delivery:
    section = _Section(data, "delivery")
    section.only("attempts", "initialBackoff", "maxBackoff")
    attempts = section.get("attempts", DEFAULT_ATTEMPTS)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 100:
        raise section.error("attempts", f"must be a whole number from 1 to 100, not {attempts!r}")
    initial = section.duration("initialBackoff", DEFAULT_INITIAL_BACKOFF, positive=True)
    cap = section.duration("maxBackoff", max(DEFAULT_MAX_BACKOFF, initial), positive=True)
    if cap < initial:
        raise section.error("maxBackoff", "must be at least initialBackoff")
    return Delivery(attempts, initial, cap)


def _receiver(entry: Any, index: int, base: Path, env: Mapping[str, str]) -> Receiver:
    where = f"receivers[{index}]"
    section = _Section(entry, where)
    name = section.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: name is required")
    if len(name) > 63 or not set(name) <= _NAME_CHARS or name[0] == "-" or name[-1] == "-":
        raise ConfigError(f"{where}: name {name!r} must be a DNS label (a-z, 0-9 and -, up to 63), "
                          "as policies' notify[].receiver are")
    where = f"receivers[{index}] ({name})"
    section = _Section(entry, where)
    section.only("name", *KINDS)
    kinds = [kind for kind in KINDS if kind in entry]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: needs exactly one of webhook, slack or pagerduty"
                          + (f", not {' and '.join(kinds)}" if kinds else ""))
    kind = kinds[0]
    body = _Section(entry[kind], f"{where}: {kind}")
    secrets = _Secrets(body, base, env)
    if kind == "webhook":
        body.only("url", "secretFile", "secretEnv", "timeout")
        return WebhookReceiver(name=name, url=body.url("url"), secret=secrets.required("secret"),
                               timeout=body.duration("timeout", DEFAULT_TIMEOUT, positive=True))
    if kind == "slack":
        body.only("apiUrl", "tokenFile", "tokenEnv", "signingSecretFile", "signingSecretEnv", "channel", "timeout")
        api_url = body.url("apiUrl", DEFAULT_SLACK_API_URL)
        channel = body.get("channel")
        if channel is not None and (not isinstance(channel, str) or not channel):
            raise ConfigError(f"{where}: slack.channel must be a channel ID or #name")
        return SlackReceiver(name=name, api_url=api_url if api_url.endswith("/") else api_url + "/",
                             token=secrets.required("token"), signing_secret=secrets.optional("signingSecret"),
                             channel=channel, timeout=body.duration("timeout", DEFAULT_TIMEOUT, positive=True))
    body.only("eventsUrl", "routingKeyFile", "routingKeyEnv", "timeout")
    return PagerDutyReceiver(name=name, events_url=body.url("eventsUrl", DEFAULT_PAGERDUTY_EVENTS_URL),
                             routing_key=secrets.required("routingKey"),
                             timeout=body.duration("timeout", DEFAULT_TIMEOUT, positive=True))


class _Section:
    """One mapping of the file, with errors that say where it is."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where or 'the file'}: must be a mapping, not {type(data).__name__}")
        self.data, self.where = data, where

    def error(self, key: str, problem: str) -> ConfigError:
        prefix = f"{self.where}." if self.where and not self.where.endswith(")") else \
            (f"{self.where}: " if self.where else "")
        return ConfigError(f"{prefix}{key}: {problem}")

    def only(self, *keys: str) -> None:
        unknown = sorted(str(k) for k in self.data if k not in keys)
        if unknown:
            raise self.error(unknown[0], f"unknown key (expected one of {', '.join(keys)})")

    def get(self, key: str, default: Any = None) -> Any:
        value = self.data.get(key)
        return default if value is None else value

    def duration(self, key: str, default: timedelta, positive: bool = False) -> timedelta:
        value = self.data.get(key)
        if value is None:
            return default
        try:
            parsed = parse_duration(str(value))
        except ValueError as error:
            raise self.error(key, str(error)) from None
        if parsed < timedelta(0) or (positive and parsed == timedelta(0)):
            raise self.error(key, f"must be {'more than' if positive else 'at least'} zero, not {value}")
        return parsed

    def url(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise self.error(key, "is required")
        parsed = urlparse(str(value))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise self.error(key, f"{value!r} is not an http(s) URL")
        return str(value)


class _Secrets:
    """``<name>File`` (read, surrounding whitespace dropped) or ``<name>Env``, not both."""

    def __init__(self, section: _Section, base: Path, env: Mapping[str, str]) -> None:
        self.section, self.base, self.env = section, base, env

    def optional(self, name: str) -> str | None:
        file_key, env_key = f"{name}File", f"{name}Env"
        from_file, from_env = self.section.data.get(file_key), self.section.data.get(env_key)
        if from_file is not None and from_env is not None:
            raise self.section.error(file_key, f"set {file_key} or {env_key}, not both")
        if from_file is not None:
            path = Path(str(from_file))
            path = path if path.is_absolute() else self.base / path
            try:
                value = path.read_text(encoding="utf-8").strip()
            except OSError as error:
                raise self.section.error(file_key, f"cannot read {path}: {error.strerror or error}") from None
            if not value:
                raise self.section.error(file_key, f"{path} is empty")
            return value
        if from_env is not None:
            value = self.env.get(str(from_env), "").strip()
            if not value:
                raise self.section.error(env_key, f"the environment variable {from_env} is not set or empty")
            return value
        return None

    def required(self, name: str) -> str:
        value = self.optional(name)
        if value is None:
            raise self.section.error(f"{name}File", f"is required (or {name}Env)")
        return value
