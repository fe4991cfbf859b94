"""The notifications configuration: the receivers, their URLs and secrets, read once at start-up.

The operator's ``--notifications FILE`` names a YAML file (in a cluster, a key
of a mounted Secret)::

    expiringBefore: 10m          # when "Expiring" is sent, before expiresAt
    ui: {url: https://gatepass.example.com}   # optional: messages link to <url>/requests/<name>
    delivery: {attempts: 8, initialBackoff: 1s, maxBackoff: 60s}   # optional; these are the defaults
    receivers:
      - name: ops-webhook
        webhook: {url: https://ops.example.com/gatepass, secretFile: webhook-secret, timeout: 5s}
      - name: slack
        slack: {apiUrl: https://slack.com/api/, tokenEnv: SLACK_TOKEN,
                signingSecretFile: slack-signing-secret, channel: "#access-requests"}
      - name: pagerduty
        pagerduty: {eventsUrl: https://events.pagerduty.com/v2/enqueue, routingKeyFile: pd-key}

The file is described once, by the pydantic dataclasses below: a key of the
file is the camelCase of a field, and a secret field ``token`` is read from
``tokenFile`` (relative to the configuration file's folder unless absolute) or
``tokenEnv`` (an environment variable), never from the file itself. The
dataclasses are also the values the notifier uses. Anything wrong is a
``ConfigError`` with one line naming the file, the receiver and the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, ClassVar, Optional, Union
from urllib.parse import urlparse

import yaml
from pydantic import ConfigDict, PlainValidator, TypeAdapter, ValidationError, ValidationInfo, model_validator
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass as model
from pydantic_core import ArgsKwargs, PydanticCustomError

from gatepass.core.durations import parse_duration

DEFAULT_EXPIRING_BEFORE = timedelta(minutes=10)
DEFAULT_ATTEMPTS = 8
DEFAULT_INITIAL_BACKOFF = timedelta(seconds=1)
DEFAULT_MAX_BACKOFF = timedelta(seconds=60)
DEFAULT_TIMEOUT = timedelta(seconds=5)
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
DEFAULT_PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")
_STRICT = ConfigDict(extra="forbid")


class ConfigError(ValueError):
    """The notifications configuration cannot be used; the message is one line."""


def _problem(text: str, *, key: str = "", rename: str = "", sep: str = ": ") -> PydanticCustomError:
    """A problem found while validating: ``key`` names the file's key below the place pydantic reports,
    ``rename`` replaces the field's own name (a secret field is read from its ``...File``/``...Env`` key)."""
    return PydanticCustomError("gatepass_config", "{text}", {"text": text, "key": key, "rename": rename, "sep": sep})


# -- values of the file's keys -----------------------------------------------------------------------------


def _in_file(check):
    """A value of the file, checked (and normalised) by ``check``; a value built in code is taken as it is."""
    def validate(value: Any, info: ValidationInfo) -> Any:
        return check(value) if isinstance(info.context, _Reading) else value
    return PlainValidator(validate)


def _duration(positive: bool):
    def check(value: Any) -> timedelta:
        try:
            parsed = parse_duration(str(value))
        except ValueError as error:
            raise _problem(str(error)) from None
        if parsed < timedelta(0) or (positive and parsed == timedelta(0)):
            raise _problem(f"must be {'more than' if positive else 'at least'} zero, not {value}")
        return parsed
    return _in_file(check)


def _url(value: Any) -> str:
    parsed = urlparse(str(value))
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise _problem(f"{value!r} is not an http(s) URL")
    return str(value)


def _api_url(value: Any) -> str:
    url = _url(value)
    return url if url.endswith("/") else url + "/"


def _base_url(value: Any) -> str:
    url = _url(value)
    parsed = urlparse(url)
    if parsed.query or parsed.fragment:
        raise _problem(f"{value!r} must be a base URL, without a query or fragment")
    return url.rstrip("/")


def _attempts(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100:
        raise _problem(f"must be a whole number from 1 to 100, not {value!r}")
    return value


def _channel(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise _problem("must be a channel ID or #name", sep=" ")
    return value


@dataclass(frozen=True)
class _Reading:
    """The validation context while the file is read: where relative secret files are, and the environment."""

    base: Path
    environ: Mapping[str, str]


@dataclass(frozen=True)
class _Source:
    """Where the file says the secret ``name`` is: ``<name>File`` or ``<name>Env``, not both."""

    name: str
    file: Any
    env: Any
    reading: _Reading

    def read(self, required: bool) -> str | None:
        file_key, env_key = f"{self.name}File", f"{self.name}Env"
        if self.file is not None and self.env is not None:
            raise _problem(f"set {file_key} or {env_key}, not both", rename=file_key)
        if self.file is not None:
            return self._read_file(file_key)
        if self.env is not None:
            value = self.reading.environ.get(str(self.env), "").strip()
            if not value:
                raise _problem(f"the environment variable {self.env} is not set or empty", rename=env_key)
            return value
        if required:
            raise _problem(f"is required (or {env_key})", rename=file_key)
        return None

    def _read_file(self, key: str) -> str:
        path = Path(str(self.file))
        path = path if path.is_absolute() else self.reading.base / path
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise _problem(f"cannot read {path}: {error.strerror or error}", rename=key) from None
        if not value:
            raise _problem(f"{path} is empty", rename=key)
        return value


def _secret(required: bool) -> PlainValidator:
    """A secret: read from where the file says (a ``_Source``), or given in code."""
    return PlainValidator(lambda value: value.read(required) if isinstance(value, _Source) else value)


Duration = Annotated[timedelta, _duration(positive=False)]
Timeout = Annotated[timedelta, _duration(positive=True)]
Url = Annotated[str, _in_file(_url)]
ApiUrl = Annotated[str, _in_file(_api_url)]
BaseUrl = Annotated[Optional[str], _in_file(_base_url)]
Attempts = Annotated[int, _in_file(_attempts)]
Channel = Annotated[Optional[str], _in_file(_channel)]
Secret = Annotated[str, _secret(required=True)]
OptionalSecret = Annotated[Optional[str], _secret(required=False)]


# -- reading a section of the file -------------------------------------------------------------------------


def _mapping(data: Any) -> Mapping:
    if not isinstance(data, Mapping):
        raise _problem(f"must be a mapping, not {type(data).__name__}")
    return data


def _only(data: Mapping, keys: tuple[str, ...], at: str = "") -> None:
    unknown = sorted(str(k) for k in data if k not in keys)
    if unknown:
        key = f"{at}.{unknown[0]}" if at else unknown[0]
        raise _problem(f"unknown key (expected one of {', '.join(keys)})", key=key)


@model(frozen=True, config=_STRICT)
class _Section:
    """A section of the file: checked for unknown keys, with ``null`` meaning the default, and turned into
    the dataclass's field names. Only when reading the file (a ``_Reading`` context): code that builds the
    values itself passes field names."""

    #: Fields a section does not take from the file (filled in from the surrounding entry).
    _FILLED: ClassVar[tuple[str, ...]] = ()
    #: Fields read from ``<name>File`` or ``<name>Env``.
    _SECRETS: ClassVar[tuple[str, ...]] = ()
    #: The defaults of fields the file may leave out although code must pass them.
    _FILE_DEFAULTS: ClassVar[dict[str, Any]] = {}

    @classmethod
    def file_keys(cls) -> dict[str, str]:
        """The file's keys, in order, each with the field it sets."""
        keys: dict[str, str] = {}
        for item in fields(cls):
            if item.name in cls._FILLED or item.name == "kind":
                continue
            camel = to_camel(item.name)
            for key in ((f"{camel}File", f"{camel}Env") if item.name in cls._SECRETS else (camel,)):
                keys[key] = item.name
        return keys

    @model_validator(mode="before")
    @classmethod
    def _from_file(cls, data: Any, info: ValidationInfo) -> Any:
        reading = info.context
        if not isinstance(reading, _Reading) or isinstance(data, ArgsKwargs):
            return data
        keys = cls.file_keys()
        section = _mapping(data)
        _only({k: v for k, v in section.items() if k not in cls._FILLED}, tuple(keys))
        values = {**cls._FILE_DEFAULTS, **{k: section[k] for k in cls._FILLED if k in section}}
        values.update({keys[k]: v for k, v in section.items() if k in keys and v is not None})
        for name in cls._SECRETS:
            camel = to_camel(name)
            values[name] = _Source(camel, section.get(f"{camel}File"), section.get(f"{camel}Env"), reading)
        return values


# -- the receivers -----------------------------------------------------------------------------------------


@model(frozen=True, config=_STRICT)
class WebhookReceiver(_Section):
    """POSTs signed JSON to ``url``."""

    _FILLED = ("name",)
    _SECRETS = ("secret",)

    name: str
    url: Url
    secret: Secret = field(repr=False)
    timeout: Timeout = DEFAULT_TIMEOUT
    kind: str = "webhook"


@model(frozen=True, config=_STRICT)
class SlackReceiver(_Section):
    """Posts to a Slack workspace with a bot token; ``signing_secret`` (None when not set) enables the
    Approve and Deny buttons, whose clicks Slack signs with it."""

    _FILLED = ("name",)
    _SECRETS = ("token", "signing_secret")
    _FILE_DEFAULTS = {"api_url": DEFAULT_SLACK_API_URL}

    name: str
    api_url: ApiUrl
    token: Secret = field(repr=False)
    signing_secret: OptionalSecret = field(default=None, repr=False)
    channel: Channel = None
    timeout: Timeout = DEFAULT_TIMEOUT
    kind: str = "slack"


@model(frozen=True, config=_STRICT)
class PagerDutyReceiver(_Section):
    """Triggers and resolves PagerDuty incidents with the Events API v2."""

    _FILLED = ("name",)
    _SECRETS = ("routing_key",)
    _FILE_DEFAULTS = {"events_url": DEFAULT_PAGERDUTY_EVENTS_URL}

    name: str
    events_url: Url
    routing_key: Secret = field(repr=False)
    timeout: Timeout = DEFAULT_TIMEOUT
    kind: str = "pagerduty"


Receiver = Union[WebhookReceiver, SlackReceiver, PagerDutyReceiver]
_KINDS: dict[str, type[_Section]] = {"webhook": WebhookReceiver, "slack": SlackReceiver,
                                     "pagerduty": PagerDutyReceiver}
KINDS = tuple(_KINDS)


@model(frozen=True, config=_STRICT)
class _Entry:
    """One item of ``receivers``: a name, and exactly one kind of receiver."""

    name: str
    webhook: Optional[WebhookReceiver] = None
    slack: Optional[SlackReceiver] = None
    pagerduty: Optional[PagerDutyReceiver] = None

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        entry = _mapping(data)
        name = _valid_name(entry.get("name"))
        _only(entry, ("name", *KINDS))
        kinds = [kind for kind in KINDS if kind in entry]
        if len(kinds) != 1:
            raise _problem("needs exactly one of webhook, slack or pagerduty"
                           + (f", not {' and '.join(kinds)}" if kinds else ""))
        kind = kinds[0]
        try:
            body = _mapping(entry[kind])
        except PydanticCustomError as error:
            raise _problem(error.context["text"], key=kind) from None
        _only(body, tuple(_KINDS[kind].file_keys()), at=kind)
        return {"name": name, kind: {**body, "name": name}}

    @property
    def receiver(self) -> Receiver:
        return next(r for r in (self.webhook, self.slack, self.pagerduty) if r is not None)


def _valid_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise _problem("is required", key="name", sep=" ")
    if len(name) > 63 or not set(name) <= _NAME_CHARS or name[0] == "-" or name[-1] == "-":
        raise _problem(f"{name!r} must be a DNS label (a-z, 0-9 and -, up to 63), "
                       "as policies' notify[].receiver are", key="name", sep=" ")
    return name


# -- the whole file ----------------------------------------------------------------------------------------


@model(frozen=True, config=_STRICT)
class Delivery(_Section):
    """How hard a notification is tried: ``attempts`` in all, waiting initial_backoff, then twice as long
    each time (at most max_backoff), each wait jittered down to between half and all of it."""

    attempts: Attempts = DEFAULT_ATTEMPTS
    initial_backoff: Timeout = DEFAULT_INITIAL_BACKOFF
    max_backoff: Optional[Timeout] = None  # None: DEFAULT_MAX_BACKOFF, or initial_backoff when that is longer

    def __post_init__(self) -> None:
        if self.max_backoff is None:
            object.__setattr__(self, "max_backoff", max(DEFAULT_MAX_BACKOFF, self.initial_backoff))
        elif self.max_backoff < self.initial_backoff:
            raise _problem("must be at least initialBackoff", key="maxBackoff")


@model(frozen=True, config=_STRICT)
class Ui(_Section):
    """The Web UI people open (``kubectl access ui``'s in-cluster mode, behind its proxy): messages link to
    ``<url>/requests/<name>``. None: messages have no link."""

    url: BaseUrl = None


@model(frozen=True, config=_STRICT)
class _File(_Section):
    expiring_before: Duration = DEFAULT_EXPIRING_BEFORE
    delivery: Delivery = Delivery()
    ui: Ui = Ui()
    receivers: list[_Entry] = field(default_factory=list)


@dataclass(frozen=True)
class NotifyConfig:
    receivers: dict[str, Receiver] = field(default_factory=dict)
    expiring_before: timedelta = DEFAULT_EXPIRING_BEFORE
    delivery: Delivery = Delivery()
    ui_url: str | None = None  # the Web UI's base URL, without a trailing "/"

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
    reading = _Reading(base, os.environ if env is None else env)
    data = {} if data is None else data
    try:
        document = TypeAdapter(_File).validate_python(data, context=reading)
    except ValidationError as error:
        raise ConfigError(_first_problem(error, data)) from None
    receivers: dict[str, Receiver] = {}
    for index, entry in enumerate(document.receivers):
        if entry.name in receivers:
            raise ConfigError(f"receivers[{index}]: the name {entry.name!r} is used twice")
        receivers[entry.name] = entry.receiver
    return NotifyConfig(receivers=receivers, expiring_before=document.expiring_before, delivery=document.delivery,
                        ui_url=document.ui.url)


# -- one line per problem ----------------------------------------------------------------------------------


_PYDANTIC_WORDS = {"missing": "is required", "list_type": "must be a list"}


def _first_problem(error: ValidationError, data: Any) -> str:
    """The first problem pydantic found, as ``receivers[0] (ops): webhook.url: is required``."""
    problem = error.errors(include_url=False)[0]
    context = problem.get("ctx") or {}
    place = [to_camel(str(part)) if isinstance(part, str) else part for part in problem["loc"]]
    if context.get("rename"):
        place[-1] = context["rename"]
    if context.get("key"):
        place.append(context["key"])
    text = context.get("text") or _PYDANTIC_WORDS.get(problem["type"]) or problem["msg"]
    where = _where(place, data)
    return f"{where}{context.get('sep') or ': '}{text}" if where else f"the file: {text}"


def _where(place: list, data: Any) -> str:
    """``receivers[0] (ops): webhook.url`` for the place ["receivers", 0, "webhook", "url"]."""
    if len(place) >= 2 and place[0] == "receivers" and isinstance(place[1], int):
        index, rest = place[1], [str(part) for part in place[2:]]
        title = f"receivers[{index}]"
        name = _name_at(data, index)
        if name and rest[:1] != ["name"]:
            title += f" ({name})"
        return f"{title}: {'.'.join(rest)}" if rest else title
    return ".".join(str(part) for part in place)


def _name_at(data: Any, index: int) -> str | None:
    try:
        return _valid_name(data["receivers"][index]["name"])
    except (PydanticCustomError, LookupError, TypeError):
        return None
