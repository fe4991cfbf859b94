"""The operator's API errors are one line: what was asked and what the API server answered
(gatepass.controller.kubeio), however many headers the answer had."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gatepass.controller.kubeio import Kube, KubeApiError, action
from gatepass.kube.credentials import Connection, Credentials
from gatepass.kube.errors import ApiException
from gatepass.kube.http import ApiHttp
from gatepass.controller.queue import WorkQueue
from gatepass.process import logs

MESSAGE = 'AccessRequest.gatepass.dev "bob-dba" is invalid: status.state: Unsupported value: "Nope"'


class Refusing(BaseHTTPRequestHandler):
    """Answers every call with a 422 Status and the many headers a real API server sends."""

    def _answer(self) -> None:
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": MESSAGE,
                           "reason": "Invalid", "code": 422}).encode()
        self.send_response(422, "Unprocessable Entity")
        self.send_header("Content-Type", "application/json")
        for i in range(40):
            self.send_header(f"X-Kubernetes-Pf-Header-{i}", "a" * 40)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    def log_message(self, *_):
        pass


@pytest.fixture
def kube():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    connection = Connection(f"http://127.0.0.1:{server.server_address[1]}", Credentials)
    yield Kube(http=ApiHttp(connection))
    server.shutdown()


def test_an_api_error_is_one_line_with_what_was_asked_the_status_and_the_reason(kube):
    with pytest.raises(ApiException) as raised:
        asyncio.run(kube.patch_status("accessrequests", "bob-dba", {}, {"state": "Nope"}))
    error = raised.value
    assert isinstance(error, KubeApiError) and error.status == 422  # still what callers catch and read
    assert str(error) == f"patch accessrequests/bob-dba status: 422 Unprocessable Entity: {MESSAGE}"
    assert "X-Kubernetes-Pf-Header" in str(error.headers)  # kept, only not shown


def test_a_binding_s_error_names_the_binding(kube):
    manifest = {"kind": "RoleBinding", "metadata": {"name": "gp-1", "namespace": "payments"},
                "roleRef": {"kind": "ClusterRole", "name": "dba", "apiGroup": "rbac.authorization.k8s.io"},
                "subjects": []}
    with pytest.raises(KubeApiError, match=r"^create rolebindings payments/gp-1: 422 Unprocessable Entity: "):
        asyncio.run(kube.apply_binding(manifest))


def test_a_failed_reconcile_is_one_log_line(kube):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("text"))
    queue_logger = logging.getLogger("gatepass.queue")
    queue_logger.addHandler(handler)

    async def scenario():
        async def work(name: str) -> None:
            await kube.get_request(name)

        queue = WorkQueue(work, concurrency=1)
        queue.start()
        queue.add("bob-dba")
        for _ in range(200):
            await asyncio.sleep(0.01)
            if stream.getvalue():
                break
        await queue.stop()

    try:
        asyncio.run(scenario())
    finally:
        queue_logger.removeHandler(handler)
    first = stream.getvalue().splitlines()[0]
    assert "Reconciling bob-dba failed" in first
    assert first.endswith(f"get accessrequests/bob-dba: 422 Unprocessable Entity: {MESSAGE}")


@pytest.mark.parametrize("method, args, expected", [
    ("create_namespaced_role_binding", ("payments", {"metadata": {"name": "gp-1"}}),
     "create rolebindings payments/gp-1"),
    ("replace_cluster_role_binding", ("gp-2", {}), "replace clusterrolebindings/gp-2"),
    ("create_cluster_role_binding", ({"metadata": {"name": "gp-3"}},), "create clusterrolebindings/gp-3"),
    ("delete_namespaced_role_binding", ("gp-1", "payments"), "delete rolebindings payments/gp-1"),
    ("patch_namespaced_event", ("e.1", "default", {}), "patch events default/e.1"),
    ("read_namespace", ("payments",), "get namespaces/payments"),
    ("list_role_for_all_namespaces", (), "list roles"),
    ("list_cluster_custom_object", ("gatepass.dev", "v1alpha1", "accessreviews"), "list accessreviews"),
    ("create_cluster_custom_object", ("gatepass.dev", "v1alpha1", "accessreviews", {"metadata": {"name": "r"}}),
     "create accessreviews/r"),
    ("create_self_subject_access_review", ({"spec": {}},), "create selfsubjectaccessreviews"),
])
def test_what_a_call_asked(method, args, expected):
    assert action(method, args, {}) == expected
