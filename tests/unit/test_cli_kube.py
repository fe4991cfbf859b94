"""The plugin's API client, for what the Web UI asks of it: a dry-run create, a list with its version, a
watch of every request, and a twin for a thread of its own. The HTTP below it is a stand-in that records
each call and answers from a script."""

from __future__ import annotations

import io
import json

import pytest

from gatepass.cli import kubeconfig
from gatepass.cli.errors import CliError
from gatepass.cli.kube import Expired, Kube, Transport

REQUESTS = "/apis/gatepass.dev/v1alpha1/accessrequests"


class Response(io.BytesIO):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(body)
        self.status = status
        self.reason = "Reason"


class FakeTransport:
    host = "https://api.example:6443"

    def __init__(self, *answers: tuple[int, object]) -> None:
        self.answers = list(answers)
        self.calls: list[dict] = []
        self._connection = None

    def request(self, method, path, body=None, *, query=None, content_type="application/json", timeout=30,
                stream=False):
        self.calls.append({"method": method, "path": path, "body": body, "query": dict(query or {}),
                           "stream": stream, "timeout": timeout})
        status, data = self.answers.pop(0)
        if isinstance(data, list):
            return Response(status, b"".join(json.dumps(event).encode() + b"\n" for event in data))
        return Response(status, json.dumps(data).encode())


def test_create_request_dry_run_asks_admission_and_stores_nothing():
    transport = FakeTransport((201, {"metadata": {"name": "r"}}), (201, {"metadata": {"name": "r"}}))
    kube = Kube(transport)
    body = {"metadata": {"generateName": "bob-"}, "spec": {"roles": ["dba"]}}
    kube.create_request(body, dry_run=True)
    kube.create_request(body)
    assert [call["query"] for call in transport.calls] == [
        {"fieldManager": "kubectl-access", "dryRun": "All"}, {"fieldManager": "kubectl-access"}]
    assert all(call["method"] == "POST" and call["path"] == REQUESTS for call in transport.calls)


def test_create_request_refused_by_admission_is_what_admission_said():
    refusal = {"kind": "Status", "status": "Failure", "code": 400,
               "message": 'admission webhook "requests.gatepass.dev" denied the request: a reason is required'}
    kube = Kube(FakeTransport((400, refusal)))
    with pytest.raises(CliError) as refused:
        kube.create_request({"metadata": {}}, dry_run=True)
    assert refused.value.message == "a reason is required"  # as every verb reports it (errors.status_message)


def test_list_requests_with_version():
    listed = {"metadata": {"resourceVersion": "42"}, "items": [{"metadata": {"name": "a"}}]}
    kube = Kube(FakeTransport((200, listed), (200, listed)))
    assert kube.list_requests_with_version() == ([{"metadata": {"name": "a"}}], "42")
    assert kube.list_requests() == [{"metadata": {"name": "a"}}]


def test_watch_requests_watches_every_request_from_the_version_until_the_timeout():
    events = [{"type": "ADDED", "object": {"metadata": {"name": "a"}}},
              {"type": "MODIFIED", "object": {"metadata": {"name": "b"}}}]
    transport = FakeTransport((200, events))
    seen = list(Kube(transport).watch_requests("42", timeout=30))
    assert seen == [(e["type"], e["object"]) for e in events]
    call = transport.calls[0]
    assert (call["path"], call["stream"], call["timeout"]) == (REQUESTS, True, 45)
    assert call["query"] == {"watch": "true", "resourceVersion": "42", "timeoutSeconds": "30",
                             "allowWatchBookmarks": "false"}


def test_watch_requests_expired_and_refused():
    gone = [{"type": "ERROR", "object": {"code": 410, "reason": "Expired"}}]
    with pytest.raises(Expired):
        list(Kube(FakeTransport((200, gone))).watch_requests("1"))
    with pytest.raises(Expired):
        list(Kube(FakeTransport((410, {}))).watch_requests("1"))
    forbidden = {"kind": "Status", "code": 403, "message": 'accessrequests.gatepass.dev is forbidden: User '
                 '"system:serviceaccount:t:nobody" cannot watch resource "accessrequests"'}
    with pytest.raises(CliError) as refused:
        list(Kube(FakeTransport((403, forbidden))).watch_requests("1"))
    assert refused.value.message == forbidden["message"]


def test_watch_request_still_watches_one_request_by_name():
    transport = FakeTransport((200, [{"type": "MODIFIED", "object": {"metadata": {"name": "r"}}}]))
    assert [kind for kind, _ in Kube(transport).watch_request("r", "7")] == ["MODIFIED"]
    assert transport.calls[0]["query"]["fieldSelector"] == "metadata.name=r"
    with pytest.raises(CliError, match='AccessRequest "r" not found'):
        list(Kube(FakeTransport((404, {}))).watch_request("r", "7"))


def test_a_twin_is_the_same_user_on_a_connection_of_its_own():
    endpoint = kubeconfig.Endpoint(server="https://api.example:6443")
    kube = Kube(Transport(endpoint, kubeconfig.Credentials(token="t0ken")))
    kube.transport._connection = object()  # as after a call
    twin = kube.twin()
    assert twin.transport is not kube.transport and twin.transport._connection is None
    assert twin.transport.headers["Authorization"] == "Bearer t0ken" and twin.host == kube.host
    assert kube.transport._connection is not None


class AcceptingTransport(FakeTransport):
    """Records the Accept header a call asks for, too."""

    def request(self, method, path, body=None, *, accept="", **kwargs):
        response = super().request(method, path, body, **kwargs)
        self.calls[-1]["accept"] = accept
        return response


def test_list_names_lists_metadata_only_as_the_user():
    from gatepass.cli.kube import METADATA_ONLY, Names

    listed = {"items": [{"metadata": {"name": "db-1", "namespace": "payments"}}], "metadata": {"continue": "x"}}
    transport = AcceptingTransport((200, listed), (200, {"preferredVersion": {"groupVersion": "apps/v1"}}),
                                   (200, {"items": []}), (200, {"items": []}))
    kube = Kube(transport)
    assert kube.list_names("", "pods", "payments", 10) == Names(found=(("payments", "db-1"),), more=True)
    assert kube.list_names("apps", "deployments", "payments") == Names()
    assert kube.list_names("apps", "deployments", "") == Names()  # the group's version is asked for once
    assert [(c["path"], c["query"], c.get("accept")) for c in transport.calls] == [
        ("/api/v1/namespaces/payments/pods", {"limit": "10"}, METADATA_ONLY),
        ("/apis/apps", {}, ""),
        ("/apis/apps/v1/namespaces/payments/deployments", {"limit": "500"}, METADATA_ONLY),
        ("/apis/apps/v1/deployments", {"limit": "500"}, METADATA_ONLY),
    ]


def test_list_names_says_when_the_user_may_not_list_or_there_is_no_such_kind():
    from gatepass.cli.kube import Names

    refused = {"kind": "Status", "code": 403, "message": "pods is forbidden"}
    kube = Kube(AcceptingTransport((403, refused), (404, {}), (404, {})))
    assert kube.list_names("", "pods", "payments") == Names(allowed=False)
    assert kube.list_names("", "nodes", "payments") == Names(exists=False)
    assert kube.list_names("no.such.group", "things", "payments") == Names(exists=False)
    kube = Kube(AcceptingTransport((500, {"kind": "Status", "code": 500, "message": "etcd is down"})))
    with pytest.raises(CliError, match="etcd is down"):
        kube.list_names("", "pods", "payments")
