"""Reading the user's kubeconfig as kubectl does, into what one HTTPS connection needs.

The files are client-go's: ``--kubeconfig``, else ``$KUBECONFIG`` (a list of files, merged: the first file
that names a cluster, user or context wins, and the first current-context set wins), else
``~/.kube/config`` (``gatepass.kube.connection.kubeconfig_path``); the context named, else the current one.
Paths in a file are relative to that file. Credentials: client certificates (files or data), bearer tokens
(``tokenFile``, else ``token``), basic auth, an OIDC ``auth-provider``'s id-token, and exec credential
plugins (``client.authentication.k8s.io/v1`` and ``v1beta1``), run as kubectl runs them: stderr passed
through, stdin given when interactive, ``KUBERNETES_EXEC_INFO`` set. Every problem is a one-line
``ConfigError``.

Standard library and PyYAML only, so that the plugin starts in milliseconds (and the operator reads its
kubeconfig without the Kubernetes client: gatepass.kube.credentials); ``resolve`` runs an exec
plugin, and is the only part that does anything but read files.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gatepass.core.timestamps import parse_optional_time
from gatepass.kube.locations import ConfigError, kubeconfig_path

__all__ = ["ConfigError", "Credentials", "Endpoint", "load", "resolve"]

EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")


@dataclass(frozen=True)
class Credentials:
    """Who the client is to the API server: a token, a client certificate, or a user and password."""

    token: str = ""
    cert_file: str = ""
    key_file: str = ""
    cert_data: bytes = b""
    key_data: bytes = b""
    username: str = ""
    password: str = ""
    expires: datetime | None = None  # an exec plugin's expirationTimestamp: ask it again from then on


@dataclass(frozen=True)
class Endpoint:
    """Where the API server is, how to trust it, and how to say who we are (maybe through an exec plugin)."""

    server: str
    ca_file: str = ""
    ca_data: bytes = b""
    insecure: bool = False
    tls_server_name: str = ""
    proxy_url: str = ""
    credentials: Credentials = field(default_factory=Credentials)
    exec_config: Mapping[str, Any] | None = None  # resolved by ``resolve``
    exec_cwd: str = ""
    cluster_info: Mapping[str, Any] = field(default_factory=dict)  # for provideClusterInfo


@dataclass
class _Named:
    body: Mapping[str, Any]
    directory: str  # of the file it came from, for relative paths


def _read(path: str) -> Mapping[str, Any]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"cannot read kubeconfig {path}: not valid YAML{line}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read kubeconfig {path}: {error.strerror or error}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"cannot read kubeconfig {path}: not a kubeconfig (a mapping)")
    return data


def _entries(data: Mapping, key: str, path: str) -> list[tuple[str, Mapping]]:
    items = data.get(key) or []
    if not isinstance(items, list):
        raise ConfigError(f"cannot read kubeconfig {path}: {key} is not a list")
    found = []
    for item in items:
        inner = key[:-1]  # clusters -> cluster
        if not isinstance(item, Mapping) or not isinstance(item.get(inner) or {}, Mapping):
            raise ConfigError(f"cannot read kubeconfig {path}: an entry of {key} is not a mapping")
        found.append((str(item.get("name") or ""), item.get(inner) or {}))
    return found


def load(kubeconfig: str | None = None, context: str | None = None) -> Endpoint:
    """The endpoint of ``context`` (else the current context) in the kubeconfig, as the module says."""
    path = kubeconfig_path(kubeconfig)
    merged, current = _merged(path)
    name = _context_name(merged["contexts"], context, current, path)
    chosen = merged["contexts"][name].body
    cluster_name, user_name = str(chosen.get("cluster") or ""), str(chosen.get("user") or "")
    if cluster_name not in merged["clusters"]:
        raise ConfigError(f'context "{name}" uses cluster "{cluster_name}", which {path} does not have')
    cluster = merged["clusters"][cluster_name]
    user = merged["users"].get(user_name) or _Named({}, "")
    return _endpoint(cluster, user, path)


def _merged(path: str) -> tuple[dict[str, dict[str, _Named]], str]:
    """The clusters, users and contexts of the files in ``path`` (the first file naming one wins, as in
    client-go), and the first current-context set."""
    files = [part for part in path.split(os.pathsep) if part]
    existing = [part for part in files if os.path.exists(part)]
    if not existing:
        raise ConfigError(f"kubeconfig {path} not found; pass --kubeconfig or set KUBECONFIG")
    merged: dict[str, dict[str, _Named]] = {"clusters": {}, "users": {}, "contexts": {}}
    current = ""
    for part in existing:
        data = _read(part)
        directory = os.path.dirname(os.path.abspath(part))
        for key, table in merged.items():
            for name, body in _entries(data, key, part):
                table.setdefault(name, _Named(body, directory))
        current = current or str(data.get("current-context") or "")
    return merged, current


def _context_name(contexts: Mapping[str, _Named], context: str | None, current: str, path: str) -> str:
    """The context to use: the one asked for, else the current one; one that is missing is a ConfigError."""
    if context and context not in contexts:
        names = ", ".join(n for n in contexts if n) or "none"
        raise ConfigError(f'context "{context}" not found in {path} (contexts: {names})')
    name = context or current
    if not name:
        raise ConfigError(f"{path} has no current context; pass --context")
    if name not in contexts:
        raise ConfigError(f'current context "{name}" not found in {path}; pass --context')
    return name


def _file(named: _Named, key: str) -> str:
    value = str(named.body.get(key) or "")
    return os.path.join(named.directory, os.path.expanduser(value)) if value else ""


def _data(named: _Named, key: str, path: str) -> bytes:
    value = named.body.get(key)
    if not value:
        return b""
    try:
        return base64.b64decode(str(value), validate=False)
    except ValueError:
        raise ConfigError(f"cannot use kubeconfig {path}: {key} is not base64") from None


def _endpoint(cluster: _Named, user: _Named, path: str) -> Endpoint:
    body = cluster.body
    server = str(body.get("server") or "").rstrip("/")
    if not server.startswith(("https://", "http://")):
        raise ConfigError(f"cannot use kubeconfig {path}: the cluster has no https:// server")
    proxy = str(body.get("proxy-url") or "")
    if proxy and not proxy.startswith("http://"):
        raise ConfigError(f"cannot use kubeconfig {path}: proxy-url {proxy}: only http:// proxies are supported")
    info: dict[str, Any] = {"server": server}
    for key in ("certificate-authority-data", "insecure-skip-tls-verify", "tls-server-name", "proxy-url"):
        if body.get(key):
            info[key] = body[key]
    extension = next((e.get("extension") for e in body.get("extensions") or ()
                      if isinstance(e, Mapping) and e.get("name") == "client.authentication.k8s.io/exec"), None)
    if extension is not None:
        info["config"] = extension
    return Endpoint(
        server=server,
        ca_file=_file(cluster, "certificate-authority"),
        ca_data=_data(cluster, "certificate-authority-data", path),
        insecure=bool(body.get("insecure-skip-tls-verify")),
        tls_server_name=str(body.get("tls-server-name") or ""),
        proxy_url=proxy,
        credentials=_credentials(user, path),
        exec_config=user.body.get("exec") or None,
        exec_cwd=user.directory,
        cluster_info=info,
    )


def _credentials(user: _Named, path: str) -> Credentials:
    body = user.body
    token = ""
    if body.get("tokenFile"):
        token_file = _file(user, "tokenFile")
        try:
            with open(token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as error:
            raise ConfigError(f"cannot use kubeconfig {path}: tokenFile {token_file}: {error.strerror}") from None
    token = token or str(body.get("token") or "")
    provider = body.get("auth-provider")
    if not token and isinstance(provider, Mapping):
        if provider.get("name") != "oidc" or not (provider.get("config") or {}).get("id-token"):
            raise ConfigError(f'cannot use kubeconfig {path}: auth-provider "{provider.get("name")}" is not '
                              "supported; use an exec credential plugin (kubectl no longer supports it either)")
        token = str(provider["config"]["id-token"])
    return Credentials(
        token=token,
        cert_file=_file(user, "client-certificate"),
        key_file=_file(user, "client-key"),
        cert_data=_data(user, "client-certificate-data", path),
        key_data=_data(user, "client-key-data", path),
        username=str(body.get("username") or ""),
        password=str(body.get("password") or ""),
    )


def resolve(endpoint: Endpoint) -> Credentials:
    """The credentials to use: the kubeconfig's, completed by its exec plugin when it has one."""
    config = endpoint.exec_config
    if not config:
        return endpoint.credentials
    version = _exec_version(config)
    command = str(config["command"])
    if os.sep in command and not os.path.isabs(command):
        command = os.path.join(endpoint.exec_cwd, command)  # as client-go: relative to the kubeconfig
    interactive = _exec_interactive(config, version, command)
    answer = _run_exec(config, version, command, interactive, endpoint.cluster_info)
    return _exec_credentials(answer, version, command, endpoint.credentials)


def _exec_version(config: object) -> str:
    """The exec plugin's apiVersion, once the plugin is known to be one this client speaks to."""
    if not isinstance(config, Mapping) or not config.get("command"):
        raise ConfigError("the kubeconfig's exec plugin names no command")
    version = str(config.get("apiVersion") or "")
    if version not in EXEC_API_VERSIONS:
        raise ConfigError(f'exec plugin: apiVersion "{version}" is not supported '
                          f"(use {' or '.join(EXEC_API_VERSIONS)})")
    return version


def _exec_interactive(config: Mapping, version: str, command: str) -> bool:
    """Whether the plugin may talk to the user (interactiveMode, and whether stdin is a terminal)."""
    mode = str(config.get("interactiveMode") or ("IfAvailable" if version.endswith("v1beta1") else ""))
    terminal = _isatty(sys.stdin)
    if mode == "Always" and not terminal:
        raise ConfigError(f"exec plugin {command} needs a terminal (interactiveMode: Always)")
    return terminal and mode != "Never"


def _run_exec(config: Mapping, version: str, command: str, interactive: bool,
              cluster_info: Mapping[str, Any]) -> Mapping[str, Any]:
    """Runs the plugin as kubectl does (KUBERNETES_EXEC_INFO, its env and args) and returns its ExecCredential."""
    spec: dict[str, Any] = {"interactive": interactive}
    if config.get("provideClusterInfo"):
        spec["cluster"] = dict(cluster_info)
    env = dict(os.environ)
    for entry in config.get("env") or ():
        if isinstance(entry, Mapping) and entry.get("name"):
            env[str(entry["name"])] = str(entry.get("value") or "")
    env["KUBERNETES_EXEC_INFO"] = json.dumps({"apiVersion": version, "kind": "ExecCredential", "spec": spec})
    argv = [command, *(str(arg) for arg in config.get("args") or ())]
    try:
        done = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stdin=None if interactive else subprocess.DEVNULL,
                              check=False)
    except OSError as error:
        hint = f" ({' '.join(str(config['installHint']).split())})" if config.get("installHint") else ""
        raise ConfigError(f"exec plugin {command}: {error.strerror or error}{hint}") from None
    if done.returncode != 0:
        raise ConfigError(f"exec plugin {command} failed (exit {done.returncode})")
    try:
        answer = json.loads(done.stdout)
        answer.get("status")
    except (ValueError, AttributeError):
        raise ConfigError(f"exec plugin {command} did not print an ExecCredential") from None
    return answer


def _exec_credentials(answer: Mapping[str, Any], version: str, command: str, base: Credentials) -> Credentials:
    """The credentials an ExecCredential gives: a token (kept with the kubeconfig's certificate), else a
    client certificate."""
    if answer.get("apiVersion") != version:
        raise ConfigError(f'exec plugin {command} answered apiVersion "{answer.get("apiVersion")}", not "{version}"')
    status = answer.get("status") or {}
    expires = parse_optional_time(status.get("expirationTimestamp"))
    if status.get("token"):
        return Credentials(token=str(status["token"]), cert_file=base.cert_file, key_file=base.key_file,
                           cert_data=base.cert_data, key_data=base.key_data, expires=expires)
    if status.get("clientCertificateData") and status.get("clientKeyData"):
        return Credentials(token=base.token, cert_data=str(status["clientCertificateData"]).encode(),
                           key_data=str(status["clientKeyData"]).encode(), expires=expires)
    raise ConfigError(f"exec plugin {command} gave neither a token nor a client certificate")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream and stream.isatty())
    except (AttributeError, ValueError):
        return False


@dataclass(frozen=True)
class ContextEntry:
    """One context as the merged kubeconfig has it: its name, its body and its user's body."""

    name: str
    body: Mapping[str, Any]
    user: Mapping[str, Any]


def context_entry(kubeconfig: str | None = None, context: str | None = None) -> ContextEntry:
    """The context ``load`` would use (named, else current), with its user; a ConfigError as ``load`` gives."""
    path = kubeconfig_path(kubeconfig)
    merged, current = _merged(path)
    name = _context_name(merged["contexts"], context, current, path)
    body = merged["contexts"][name].body
    user = merged["users"].get(str(body.get("user") or ""))
    return ContextEntry(name, body, user.body if user else {})
