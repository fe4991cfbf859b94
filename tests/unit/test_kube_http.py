"""The operator's asynchronous API client (gatepass.kube.http) against a small local server: what it sends,
how it reads answers and errors, and the TLS it takes from its connection (gatepass.kube.credentials)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import ssl
from datetime import datetime, timezone

import aiohttp
import pytest
from aiohttp import web

from gatepass.controller.kubeio import Kube, KubeApiError
from gatepass.kube.credentials import Connection, Credentials
from gatepass.kube.errors import ApiException
from gatepass.kube.http import ApiHttp, ssl_context

MESSAGE = 'rolebindings.rbac.authorization.k8s.io "gp-1" already exists'


def config(host: str, token: str | None = "t0ken") -> Connection:
    return Connection(host, lambda: Credentials(token=token or ""))


async def serving(handler):
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def test_a_request_sends_json_with_the_credentials_and_reads_json():
    seen = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.method, request.raw_path, request.headers.get("Authorization"),
                     request.headers.get("Content-Type"), await request.read()))
        return web.json_response({"metadata": {"name": "r"}, "status": {"state": "Active"}})

    async def main():
        runner, host = await serving(handler)
        client = ApiHttp(config(host), connections=2)
        try:
            answer = await client.request("PATCH", "/apis/gatepass.dev/v1alpha1/accessrequests/r/status",
                                          {"status": {"state": "Active"}},
                                          content_type="application/merge-patch+json")
            listed = await client.request("GET", "/apis/gatepass.dev/v1alpha1/accessreviews",
                                          query={"fieldSelector": "spec.request=r"})
            return answer, listed
        finally:
            await client.close()
            await runner.cleanup()

    answer, listed = asyncio.run(main())
    assert answer == listed == {"metadata": {"name": "r"}, "status": {"state": "Active"}}
    (method, path, auth, kind, body), (_, query_path, _, no_kind, no_body) = seen
    assert (method, path, auth, kind) == ("PATCH", "/apis/gatepass.dev/v1alpha1/accessrequests/r/status",
                                          "Bearer t0ken", "application/merge-patch+json")
    assert json.loads(body) == {"status": {"state": "Active"}}
    assert query_path == "/apis/gatepass.dev/v1alpha1/accessreviews?fieldSelector=spec.request%3Dr"
    assert (no_kind, no_body) == (None, b"")


def test_a_rotated_token_file_is_read_again_for_the_next_request(tmp_path):
    from gatepass.kube.credentials import TokenFile

    tokens = []

    async def handler(request: web.Request) -> web.Response:
        tokens.append(request.headers.get("Authorization"))
        return web.json_response({})

    token = tmp_path / "token"
    token.write_text("old\n")

    async def main():
        runner, host = await serving(handler)
        client = ApiHttp(Connection(host, TokenFile(str(token)).credentials))
        try:
            await client.request("GET", "/api/v1/namespaces/a")
            await client.request("GET", "/api/v1/namespaces/b")
            rotated = tmp_path / "token.new"  # the kubelet replaces the file whole
            rotated.write_text("new-1")
            os.replace(rotated, token)
            await client.request("GET", "/api/v1/namespaces/c")
        finally:
            await client.close()
            await runner.cleanup()

    asyncio.run(main())
    assert tokens == ["Bearer old", "Bearer old", "Bearer new-1"]


@pytest.mark.parametrize("status, reason", [(404, "Not Found"), (409, "Conflict"), (422, "Unprocessable Entity"),
                                            (500, "Internal Server Error")])
def test_an_error_is_an_api_exception_with_its_status_reason_body_and_headers(status, reason):
    status_body = {"kind": "Status", "status": "Failure", "message": MESSAGE, "reason": reason, "code": status,
                   "details": {"name": "gp-1", "kind": "rolebindings"}}

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(status_body, status=status, reason=reason, headers={"X-Audit": "a"})

    async def main():
        runner, host = await serving(handler)
        kube = Kube(None, http=ApiHttp(config(host)))
        try:
            with pytest.raises(ApiException) as raised:
                await kube.create_review({"metadata": {"name": "bob-dba.alice"}, "spec": {}})
            return raised.value
        finally:
            await kube.close()
            await runner.cleanup()

    error = asyncio.run(main())
    assert isinstance(error, KubeApiError) and (error.status, error.reason) == (status, reason)
    assert json.loads(error.body) == status_body and error.headers["X-Audit"] == "a"
    assert str(error) == f"create accessreviews/bob-dba.alice: {status} {reason}: {MESSAGE}"


def test_the_kube_answers_404_and_409_as_before():
    """A missing object reads as None, a second once-only Event as "there already", a gone binding as deleted."""
    async def handler(request: web.Request) -> web.Response:
        if request.method == "POST":
            return web.json_response({"kind": "Status", "code": 409}, status=409)
        return web.json_response({"kind": "Status", "code": 404}, status=404)

    async def main():
        runner, host = await serving(handler)
        kube = Kube(None, http=ApiHttp(config(host)))
        body = {"metadata": {"name": "r", "uid": "u"}}
        try:
            return (await kube.get_request("r"), await kube.patch_status("accessrequests", "r", {}, {"a": 1}),
                    await kube.event(body, "Granted", "m", datetime(2026, 1, 1, tzinfo=timezone.utc), once="x"),
                    await kube.delete_binding("RoleBinding", "payments", "gp-1"),
                    await kube.namespace_exists("payments"))
        finally:
            await kube.close()
            await runner.cleanup()

    assert asyncio.run(main()) == (None, None, False, None, False)


def test_a_name_is_quoted_in_the_path():
    paths = []

    async def handler(request: web.Request) -> web.Response:
        paths.append(request.raw_path)
        return web.json_response({})

    async def main():
        runner, host = await serving(handler)
        kube = Kube(None, http=ApiHttp(config(host)))
        try:
            await kube.get_request("a/b c")
        finally:
            await kube.close()
            await runner.cleanup()

    asyncio.run(main())
    assert paths == ["/apis/gatepass.dev/v1alpha1/accessrequests/a%2Fb%20c"]


def test_the_connections_are_kept_and_bounded():
    peers = set()

    async def handler(request: web.Request) -> web.Response:
        peers.add(request.transport.get_extra_info("peername"))
        await asyncio.sleep(0.01)
        return web.json_response({})

    async def main():
        runner, host = await serving(handler)
        client = ApiHttp(config(host), connections=3)
        try:
            for _ in range(3):
                await asyncio.gather(*(client.request("GET", "/api/v1/namespaces") for _ in range(10)))
        finally:
            await client.close()
            await runner.cleanup()

    asyncio.run(main())
    assert 1 <= len(peers) <= 3


def test_a_session_left_open_is_closed_when_its_loop_ends():
    async def main():
        async def handler(request: web.Request) -> web.Response:
            return web.json_response({})

        runner, host = await serving(handler)
        client = ApiHttp(config(host))
        await client.request("GET", "/version")
        await runner.cleanup()
        return client

    client = asyncio.run(main())
    assert client._session.closed


def test_the_tls_is_the_connection_s(tmp_path):
    plain = config("http://127.0.0.1:1")
    assert ssl_context(plain) is False  # plain HTTP: no TLS at all

    verified = config("https://10.0.0.1:6443")
    context = ssl_context(verified)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname

    context = ssl_context(dataclasses.replace(verified, insecure=True))
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname

    assert not ssl_context(dataclasses.replace(verified, check_hostname=False)).check_hostname

    named = dataclasses.replace(verified, tls_server_name="kubernetes.default.svc")
    assert ApiHttp(named)._server_name == "kubernetes.default.svc"

    missing = dataclasses.replace(verified, ca_file=str(tmp_path / "no-ca.crt"))
    with pytest.raises(OSError):  # a CA that cannot be read is an error at once, not an unverified connection
        ssl_context(missing)


def test_an_answer_saying_when_to_ask_again_is_waited_out():
    answers = [(429, {"Retry-After": "0"}), (503, {"Retry-After": "0"}), (200, {})]
    seen = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.method)
        status, headers = answers.pop(0) if answers else (200, {})
        return web.json_response({"code": status}, status=status, headers=headers)

    async def main():
        runner, host = await serving(handler)
        client = ApiHttp(config(host))
        try:
            listed = await client.request("GET", "/apis/gatepass.dev/v1alpha1/accessreviews")
            answers[:] = [(503, {"Retry-After": "0"})]  # a write may have been made: not sent again
            with pytest.raises(ApiException) as raised:
                await client.request("POST", "/api/v1/namespaces/default/events", {"metadata": {}})
            answers[:] = [(429, {})]  # no Retry-After: the error at once
            with pytest.raises(ApiException) as busy:
                await client.request("GET", "/api/v1/namespaces")
            return listed, raised.value.status, busy.value.status
        finally:
            await client.close()
            await runner.cleanup()

    assert asyncio.run(main()) == ({"code": 200}, 503, 429)
    assert seen == ["GET", "GET", "GET", "POST", "GET"]


@pytest.mark.parametrize("status, header, method, wait", [
    (429, "1", "POST", 1.0), (429, "3600", "GET", 10.0), (429, None, "GET", None), (429, "1.5", "GET", None),
    (503, "2", "GET", 2.0), (503, "2", "PATCH", None), (404, "1", "GET", None),
])
def test_when_to_ask_again(status, header, method, wait):
    from gatepass.kube.http import retry_after
    assert retry_after(status, header, method) == wait


def test_a_closed_connection_is_asked_again_except_for_a_create():
    seen = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.method)
        if len(seen) in (1, 3):  # the server drops the connection without answering
            request.transport.close()
            await asyncio.sleep(0.05)
        return web.json_response({"ok": True})

    async def main():
        runner, host = await serving(handler)
        client = ApiHttp(config(host))
        try:
            read = await client.request("PATCH", "/apis/gatepass.dev/v1alpha1/accessrequests/r/status", {})
            with pytest.raises(aiohttp.ClientError):
                await client.request("POST", "/api/v1/namespaces/default/events", {"metadata": {}})
            return read
        finally:
            await client.close()
            await runner.cleanup()

    assert asyncio.run(main()) == {"ok": True}
    assert seen == ["PATCH", "PATCH", "POST"]
