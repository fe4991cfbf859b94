"""Admission of resource requests, called as kopf calls the handlers: within the bound's rules (read from the
cluster as admission runs) or refused in one line naming the rule."""

from __future__ import annotations

from gatepass.webhooks import config

from .admission_fakes import ClusterReads
from .test_admission_handlers import BOB, MALLORY, call, policy_body, refusal, request_body

POD_READER = [{"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list", "watch"]}]
LOG = {"resource": "pods", "subresource": "log", "namespace": "payments", "names": ["db-1"], "verbs": ["get"]}


def cluster(rules=None, **spec) -> ClusterReads:
    policies = {"demo-dba": policy_body(),
                "pod-logs": policy_body("pod-logs", roles=[], rules=[],
                                        resources=[{"clusterRole": "pod-reader", "namespaces": ["payments"]}], **spec)}
    return ClusterReads(policies=policies, cluster_role_rules_={"pod-reader": POD_READER} if rules is None else rules)


def resource_request(*rules: dict, **spec) -> dict:
    body = request_body(resources=list(rules) or [LOG], **spec)
    del body["spec"]["roles"], body["spec"]["namespaces"]
    return body


def test_a_request_within_the_bound_is_accepted_and_reads_the_bound_rules():
    where = cluster()
    call(where, config.VALIDATE_REQUEST, new=resource_request(), userinfo=BOB, operation="CREATE")
    assert "clusterrole rules" in where.calls


def test_a_role_request_reads_no_bound_rules():
    where = cluster()
    call(where, config.VALIDATE_REQUEST, new=request_body(), userinfo=BOB, operation="CREATE")
    assert "clusterrole rules" not in where.calls


def test_a_request_outside_the_bound_is_refused_in_one_line_naming_the_rule():
    exec_rule = {**LOG, "subresource": "exec", "verbs": ["create"]}
    assert refusal(cluster(), config.VALIDATE_REQUEST, new=resource_request(exec_rule), userinfo=BOB,
                   operation="CREATE") == (
        "create pods/exec db-1 in payments exceeds the bound: create pods/exec db-1 is not allowed by "
        "ClusterRole pod-reader (AccessPolicy pod-logs)")
    assert refusal(cluster(), config.VALIDATE_REQUEST, new=resource_request({**LOG, "namespace": "billing"}),
                   userinfo=BOB, operation="CREATE") == (
        "get pods/log db-1 in billing: AccessPolicy pod-logs allows no resource requests in billing")


def test_a_missing_bounding_cluster_role_allows_nothing():
    assert refusal(cluster(rules={}), config.VALIDATE_REQUEST, new=resource_request(), userinfo=BOB,
                   operation="CREATE").endswith("by ClusterRole pod-reader (which does not exist) "
                                                "(AccessPolicy pod-logs)")


def test_somebody_no_policy_names_is_refused():
    assert refusal(cluster(), config.VALIDATE_REQUEST, new=resource_request(), userinfo=MALLORY,
                   operation="CREATE") == (
        "mallory may not request resources: no AccessPolicy names mallory as a requester")


def test_malformed_resource_rules_are_refused_in_one_line():
    for rule, said in (
        ({"resource": "/metrics", "verbs": ["get"]}, "non-resource URLs cannot be requested"),
        ({"resource": "pods/log", "namespace": "payments", "verbs": ["get"]}, "without '/'"),
        ({**LOG, "names": ["*"]}, "'*' is not one"),
        ({**LOG, "verbs": []}, "verbs"),
        ({"resource": "pods", "namespace": "Not_A_Namespace", "verbs": ["get"]}, "namespace"),
    ):
        assert said in refusal(cluster(), config.VALIDATE_REQUEST, new=resource_request(rule), userinfo=BOB,
                               operation="CREATE")


def test_neither_roles_nor_resources_is_refused():
    body = request_body()
    del body["spec"]["roles"]
    assert "request at least one role (roles) or one resource rule (resources)" in refusal(
        cluster(), config.VALIDATE_REQUEST, new=body, userinfo=BOB, operation="CREATE")


def test_a_policy_of_resource_bounds_alone_is_accepted_and_one_of_nothing_refused():
    body = cluster().policies["pod-logs"]
    call(cluster(), config.VALIDATE_POLICY, new=body, userinfo=BOB, operation="CREATE")
    empty = policy_body("empty", roles=[])
    assert "a policy offers at least one role (roles) or one resource bound (resources)" in refusal(
        cluster(), config.VALIDATE_POLICY, new=empty, userinfo=BOB, operation="CREATE")


def test_a_bound_the_operator_does_not_hold_is_accepted_with_a_warning():
    where = cluster()
    where.not_held = frozenset({"pods/log"})
    _, warnings = call(where, config.VALIDATE_POLICY, new=where.policies["pod-logs"], userinfo=BOB,
                       operation="CREATE")
    (line,) = [w for w in warnings if "resources within" in w]
    assert line.startswith('resources within ClusterRole "pod-reader": the operator does not hold get pods/log in '
                           "namespace payments, list pods/log in namespace payments, watch pods/log in namespace "
                           "payments itself; requests for them will be approved but not granted")
    _, warnings = call(cluster(), config.VALIDATE_POLICY, new=where.policies["pod-logs"], userinfo=BOB,
                       operation="CREATE")
    assert not [w for w in warnings if "resources within" in w]
