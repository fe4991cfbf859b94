"""`kubectl access login` and `kubectl access credential`: a grant's own short-lived credential.

When the request's policy says ``credentials: certificate``, the grant's bindings name the grant's group,
not the user. ``login`` makes a private key here (it never leaves the machine), files a
CertificateSigningRequest as the user for CN=<user>, O=<the grant's group>, waits with a status line until
the operator has approved it and the signer has issued the certificate, keeps key and certificate (0600)
beside the kubeconfig, and writes the context ``<user>@<request>``, whose user runs
``kubectl-access credential <request>`` (an exec credential plugin). kubectl runs that for each command and
keeps the answer until its ``expirationTimestamp``, the certificate's NotAfter; once the certificate has
expired and the grant is still on, ``credential`` files a fresh CSR.

With ``credentials: token`` the operator keeps a per-grant ServiceAccount's token in a Secret only the
requester may read; ``login`` writes the same context and ``credential`` hands kubectl that token.

Every failure is one line: the request is not granted (or not the caller's, or grants access as the user
themselves), the CSR was denied (with the operator's message), or the wait timed out.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, TextIO

from gatepass.core.conditions import GRANTED, is_true
from gatepass.core.credentials import TOKEN_EXPIRY_KEY, TOKEN_KEY, CredentialMode, lifetime_seconds, mode_of
from gatepass.core.lifecycle import State, state_of
from gatepass.core.timestamps import parse_optional_time

from . import contexts
from .credentials import (
    Files,
    cached,
    context_name,
    csr_body,
    csr_progress,
    exec_credential,
    exec_user,
    exec_version,
    files_for,
    is_grant_user,
    new_key_and_csr,
    not_after,
    organizations,
    write_private,
)
from .errors import INTERRUPTED, NOT_GRANTED, OK, CliError

if TYPE_CHECKING:  # kubectl runs `credential` for each command: it loads the client only when it calls the cluster
    from .commands import Context
    from .kube import Kube

#: How long login (and credential) wait for the CSR to be approved and signed, unless --timeout says.
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Grant:
    """What a granted request's status says about its credential (``status.credential``)."""

    request: str
    mode: CredentialMode  # CERTIFICATE or TOKEN
    group: str
    service_account: str
    secret: str
    namespace: str
    expires_at: datetime


def grant_of(obj: Mapping, username: str) -> Grant:
    """The grant's credential, once ``obj`` is ``username``'s, granted now, and not in the ``user`` mode;
    CliError (NOT_GRANTED when it has ended or is not granted yet) otherwise."""
    name = obj["metadata"]["name"]
    requester = ((obj.get("spec") or {}).get("requester") or {}).get("username") or ""
    if requester != username:
        raise CliError(f"AccessRequest {name} is {requester or 'nobody'}'s, not {username}'s: only its requester "
                       "may log in with it")
    status = obj.get("status") or {}
    current = state_of(status) or State.Pending
    if current is not State.Approved or not is_true(status.get("conditions"), GRANTED):
        said = "ended" if current in (State.Denied, State.Expired, State.Revoked) else "not granted yet"
        raise CliError(f"AccessRequest {name} is {current}, {said}: there is no access to log in with", NOT_GRANTED)
    credential = status.get("credential") or {}
    mode = mode_of(credential.get("mode"))
    if mode is CredentialMode.USER:
        raise CliError(f"AccessRequest {name} grants access to {username}'s own credentials "
                       f"(AccessPolicy {status.get('policy') or '?'} has credentials: {mode.value}); "
                       "use your usual context, there is nothing to log in to")
    expires = parse_optional_time(status.get("expiresAt"))
    if expires is None:
        raise CliError(f"AccessRequest {name} is granted but has no expiresAt yet; try again in a moment")
    return Grant(name, mode, str(credential.get("group") or ""), str(credential.get("serviceAccount") or ""),
                 str(credential.get("secret") or ""), str(credential.get("namespace") or ""), expires)


def now() -> datetime:
    return datetime.now(timezone.utc)


def utc_z(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


# -- waiting for the certificate -----------------------------------------------------------------


def issue(kube: Kube, grant: Grant, username: str, files: Files, *, timeout: float, err) -> datetime:
    """File a CSR for ``grant``, wait for its certificate, keep key and certificate in ``files``; NotAfter."""
    if not grant.group:
        raise CliError(f"AccessRequest {grant.request} names no group for its certificate (status.credential)")
    key, csr = new_key_and_csr(username, grant.group)
    seconds = lifetime_seconds(grant.expires_at, now())
    filed = kube.create_csr(csr_body(grant.request, csr, seconds))
    name = filed["metadata"]["name"]
    _say(err, f"Filed CertificateSigningRequest {name} for {username} (group {grant.group}, {seconds}s).")
    certificate = wait_for_certificate(kube, filed, timeout=timeout, err=err)
    write_private(files.key, key)
    write_private(files.certificate, certificate)
    until = not_after(certificate)
    _say(err, f"Issued the certificate of {username} for {grant.request}, valid until {utc_z(until)}.")
    return until


def wait_for_certificate(kube: Kube, obj: Mapping, *, timeout: float, err) -> bytes:
    """The CSR's certificate once issued, following it with a watch; CliError if denied, failed, or slow."""
    from .kube import Expired
    from .waiting import StatusLine

    name = obj["metadata"]["name"]
    deadline = time.monotonic() + timeout
    try:
        with StatusLine(err) as line:
            while True:
                seen = csr_progress(obj)
                if seen.refused:
                    raise CliError(seen.refused)
                if seen.certificate:
                    return seen.certificate
                line.update(seen.line)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CliError(f"CertificateSigningRequest {name} was not issued within {timeout:g}s "
                                   f"({seen.line.removeprefix(f'CertificateSigningRequest {name} is ')}); "
                                   f"{seen.stuck}")
                version = obj["metadata"].get("resourceVersion", "")
                try:
                    for kind, event in kube.watch_csr(name, version, int(left) + 1):
                        if kind == "DELETED":
                            raise CliError(f"CertificateSigningRequest {name} was deleted")
                        if kind in ("ADDED", "MODIFIED"):
                            obj = event
                            seen = csr_progress(obj)
                            if seen.refused or seen.certificate:
                                break
                            line.update(seen.line)
                except Expired:
                    obj = kube.get_csr(name)
    except KeyboardInterrupt:
        raise CliError("interrupted", INTERRUPTED) from None


# -- the token -----------------------------------------------------------------------------------


def read_token(kube: Kube, grant: Grant) -> tuple[str, datetime]:
    """The grant's token and when it expires, from the Secret the operator keeps for the requester."""
    if not (grant.secret and grant.namespace):
        raise CliError(f"AccessRequest {grant.request} names no Secret for its token (status.credential)")
    data = kube.get_secret(grant.namespace, grant.secret).get("data") or {}
    try:
        token = base64.b64decode(data.get(TOKEN_KEY) or "").decode()
        expires = parse_optional_time(base64.b64decode(data.get(TOKEN_EXPIRY_KEY) or "").decode())
    except (ValueError, UnicodeDecodeError):
        token, expires = "", None
    if not token or expires is None:
        raise CliError(f"Secret {grant.namespace}/{grant.secret} holds no token yet; try again in a moment")
    return token, expires


# -- the verbs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Origin:
    """The user's own context: the one the grant's context was made from, and whose credentials file CSRs."""

    kubeconfig: str  # the absolute path list
    context: str
    file: str  # the kubeconfig file that holds it
    cluster: str
    namespace: str


def origin_of(args: argparse.Namespace) -> Origin:
    from . import kubeconfig

    try:
        entry = kubeconfig.context_entry(args.kubeconfig, args.context)
    except kubeconfig.ConfigError as error:
        raise CliError(str(error)) from None
    if is_grant_user(entry.user):
        raise CliError(f"context {entry.name} is a grant's own context: log in from your usual context "
                       "(pass --context)")
    path = contexts.absolute_path(args.kubeconfig)
    return Origin(path, entry.name, contexts.file_of(path, entry.name), str(entry.body.get("cluster") or ""),
                  str(entry.body.get("namespace") or ""))


def log_in(ctx: Context, name: str, *, timeout: float, fresh: bool = True) -> str:
    """Get the grant's credential and write its context; the context's name. Unless ``fresh``, a kept
    certificate that is still valid is used as it is."""
    origin = origin_of(ctx.args)
    me = ctx.kube.whoami()
    grant = grant_of(ctx.kube.get_request(name), me.username)
    files = files_for(origin.file, origin.context, name)
    kept = cached(files, now()) if grant.mode is CredentialMode.CERTIFICATE and not fresh else None
    if kept is not None and organizations(kept[1]) != (grant.group,):
        kept = None  # kept for an earlier request of the same name
    if kept is not None:
        ctx.say(f"Using the kept certificate of {me.username} for {name}, valid until {utc_z(kept[2])}.")
    elif grant.mode is CredentialMode.CERTIFICATE:
        issue(ctx.kube, grant, me.username, files, timeout=timeout, err=ctx.err)
    else:
        _, until = read_token(ctx.kube, grant)
        ctx.say(f"Read the token of ServiceAccount {grant.namespace}/{grant.service_account} for {name}, "
                f"valid until {utc_z(until)}.")
    target = context_name(me.username, name)
    written = contexts.add_context(origin.kubeconfig, origin.context, target, origin.cluster, origin.namespace,
                                   exec_user(name, origin.kubeconfig, origin.context))
    ctx.say(f"Wrote context {target} to {written}.")
    return target


def login(ctx: Context) -> int:
    target = log_in(ctx, ctx.args.name, timeout=ctx.args.timeout)
    ctx.out.write(target + "\n")
    ctx.out.flush()
    ctx.say(f"Use it with: kubectl --context={target} ...")
    return OK


def credential(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None,
               connect: Callable[[str | None, str | None], Kube] | None = None) -> int:
    """The exec credential plugin: print the grant's ExecCredential for kubectl.

    A kept certificate that is still valid is answered without calling the cluster; otherwise the request
    is read as the user (their own context, through ``connect``) and a fresh certificate is issued, or the
    token read.
    """
    out, err = out or sys.stdout, err or sys.stderr
    version = exec_version(os.environ.get("KUBERNETES_EXEC_INFO"))
    if not args.context:
        raise CliError("name your own context with --context (the context login wrote does)")
    files = files_for(contexts.file_of(contexts.absolute_path(args.kubeconfig), args.context), args.context,
                      args.name)
    kept = cached(files, now())
    if kept is not None:
        key, certificate, until = kept
        answer = exec_credential(version, until, certificate=certificate, key=key)
    else:
        origin = origin_of(args)  # not a grant's context: that would run this plugin again
        if connect is None:
            from .kube import Kube

            connect = Kube.connect
        kube = connect(args.kubeconfig, origin.context)
        me = kube.whoami()
        grant = grant_of(kube.get_request(args.name), me.username)
        if grant.mode is CredentialMode.CERTIFICATE:
            until = issue(kube, grant, me.username, files, timeout=args.timeout, err=err)
            answer = exec_credential(version, until, certificate=files.certificate.read_bytes(),
                                     key=files.key.read_bytes())
        else:
            token, until = read_token(kube, grant)
            answer = exec_credential(version, until, token=token)
    import json

    out.write(json.dumps(answer) + "\n")
    out.flush()
    return OK


def _say(err, text: str) -> None:
    err.write(text + "\n")
    err.flush()


def grant_mode(obj: Mapping) -> CredentialMode:
    """The credential mode of a granted request (``user`` when its status names none)."""
    return mode_of(((obj.get("status") or {}).get("credential") or {}).get("mode"))


__all__ = ["DEFAULT_TIMEOUT", "NOT_GRANTED", "Grant", "credential", "grant_mode", "grant_of", "log_in", "login"]
