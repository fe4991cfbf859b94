"""Malformed and hostile objects of all three kinds, sent to the real API server by real users.

Mutating admission webhooks run before the API server checks an object against
its CRD schema, so they see whatever a client sends. Property-based tests
(hypothesis, with a fixed seed) generate such objects from valid ones: wrong
types at every level, nulls, huge strings, unicode and control characters,
extra fields, apiVersion/kind fields inside, deep nesting, hostile label and
annotation values. bob (a requester) and alice (a reviewer) send them, and an
administrator does, as creates and as patches of existing objects.

Every answer is a refusal in one line without Python internals, or an
accepted object that is valid under the schema; the operator logs no
traceback, its last-resort guard is never reached and no reconcile fails; and
nobody gains access: no binding appears and bob still cannot read payments'
secrets.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from kubernetes.client import ApiException

from gatepass.api import AccessPolicy, AccessRequest, AccessReview, InvalidObject, parse_object
from gatepass.webhooks.guard import INTERNAL_LOG, INTERNAL_REFUSAL, TOO_DEEP

from .helpers import bindings_of, can_i, create_request, get, policy_body, request_manifest, unique, wait_for

pytestmark = pytest.mark.e2e

GROUP, VERSION = "gatepass.dev", "v1alpha1"
PLURALS = {"AccessRequest": "accessrequests", "AccessReview": "accessreviews", "AccessPolicy": "accesspolicies"}
MODELS = {"AccessRequest": AccessRequest, "AccessReview": AccessReview, "AccessPolicy": AccessPolicy}

#: What a message must never contain: Python's exceptions, reprs and pydantic's reports.
INTERNALS = ("Traceback", "object has no attribute", "pydantic", "validation error for", "Error in", "Input should be",
             "KeyError", "TypeError", "AttributeError", "ValueError", "NoneType", "RecursionError", 'File "',
             "errors.pydantic.dev", "<class ", "__", INTERNAL_REFUSAL)
#: The longest refusal a Gatepass webhook gives (the API server adds its prefix).
MAX_REFUSAL = 1000
#: Log lines that mean a malformed object got further than admission.
#: (kopf logs a refusal at INFO here: at ERROR, a refusal would read as an operator failure.)
LOG_PROBLEMS = ("Traceback", INTERNAL_LOG, "failed with an exception", " ERROR kopf.objects:")
#: A failed reconcile of one of this module's requests (other modules' requests may be retrying on purpose).
FAILED_RECONCILE = re.compile(r"Reconciling (malformed-|odd-)\S* failed")

EXAMPLES = 60

SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])

# --------------------------------------------------------------------------------------------- values

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)
HOSTILE_TEXT = st.sampled_from([
    "", " ", "x" * 70_000, "ü" * 5000, "🙂" * 300, "\u202egnp.exe", "\u200b\ufeff", "\x00\x01\x1b[31mred",
    "line\nbreak\r\nTraceback (most recent call last):", "{{ .Values.secret }}", "${jndi:ldap://x/a}",
    "'; DROP TABLE requests; --", "<script>alert(1)</script>", "../../etc/passwd", "system:masters",
    "gatepass:rules", "A" * 254, "-leading", "UPPER", "a.b/c", "1d", "-1h", "0s", "9999999999999999999h",
    "2026-13-45T99:99:99Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "Approve", "Deny", "null", "{}",
])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.integers(2**63, 2**80),
    st.floats(allow_nan=False, allow_infinity=False), TEXT, HOSTILE_TEXT,
)
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                    max_leaves=6)


def nested(depth: int, leaf: object = "x", as_list: bool = False) -> object:
    value = leaf
    for _ in range(depth):
        value = [value] if as_list else {"a": value}
    return value


DEEP = st.builds(nested, st.integers(20, 120), SCALARS, st.booleans())  # deeper: test_deep_nesting_...
INSIDE_TYPE_META = st.sampled_from([{"apiVersion": "v1", "kind": "Secret"},
                                    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding"},
                                    {"apiVersion": "gatepass.dev/v1beta9", "kind": "AccessPolicy"}])
VALUES = st.one_of(JSON, DEEP, HOSTILE_TEXT, INSIDE_TYPE_META)

ANNOTATION_KEYS = st.sampled_from([
    "gatepass.dev/approve", "gatepass.dev/deny", "gatepass.dev/revoke", "gatepass.dev/aprove",
    "gatepass.dev/Approve", "review.gatepass.dev/0123456789abcdef", "revoked.gatepass.dev/by",
    "kopf.zalando.org/last-handled-configuration", "example.com/note", "note",
])
LABEL_KEYS = st.sampled_from(["gatepass.dev/request", "gatepass.dev/request-uid", "gatepass.dev/managed", "ticket",
                              "app.kubernetes.io/name", "a" * 64, "Bad Key"])


def paths(value: object, prefix: tuple = ()) -> Iterator[tuple]:
    """Every location in ``value``, down to the depth of the deepest schema."""
    yield prefix
    if len(prefix) > 8:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, prefix + (index,))


def _parent(obj: dict, path: tuple):
    for part in path[:-1]:
        obj = obj[part]
    return obj


@st.composite
def malformed(draw, base: dict, *, type_meta: bool = True) -> dict:
    """``base`` with one to three changes: a value replaced, a field added or removed, or hostile metadata.
    The name stays (objects are cleaned up by it). With ``type_meta``, apiVersion or kind may change too (the
    API server refuses that itself; in a merge patch it fails with an internal error of its own)."""
    obj = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        action = draw(st.sampled_from(["replace", "replace", "replace", "add", "remove", "annotate", "label"]
                                      + (["type-meta"] if type_meta else [])))
        metadata = obj.setdefault("metadata", {}) if isinstance(obj.get("metadata"), dict) else None
        if action == "annotate" and metadata is not None:
            annotations = metadata.get("annotations") if isinstance(metadata.get("annotations"), dict) else {}
            annotations[draw(ANNOTATION_KEYS | TEXT)] = draw(HOSTILE_TEXT | TEXT)
            metadata["annotations"] = annotations
            continue
        if action == "label" and metadata is not None:
            labels = metadata.get("labels") if isinstance(metadata.get("labels"), dict) else {}
            labels[draw(LABEL_KEYS | TEXT)] = draw(HOSTILE_TEXT | TEXT)
            metadata["labels"] = labels
            continue
        if action == "type-meta":
            obj[draw(st.sampled_from(["apiVersion", "kind"]))] = draw(HOSTILE_TEXT)
            continue
        candidates = [p for p in paths(obj) if p and p[0] in ("spec", "metadata")
                      and p[:2] not in (("metadata", "name"), ("metadata", "generateName"))
                      and p != ("metadata",)]
        if not candidates:
            continue
        path = draw(st.sampled_from(candidates))
        parent = _parent(obj, path)
        if action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "remove":
            del parent[path[-1]]
        else:
            target = parent[path[-1]]
            if isinstance(target, dict):
                target[draw(TEXT | st.sampled_from(["apiVersion", "kind", "status", "requester", "reviewer"]))] = \
                    draw(VALUES)
            elif isinstance(target, list):
                target.append(draw(VALUES))
            else:
                parent[path[-1]] = draw(VALUES)
    return obj


# ------------------------------------------------------------------------------------------ fixtures

@dataclass
class Scene:
    """What the tests send malformed objects against, and what they made."""

    request: str  # bob's Pending AccessRequest under demo-dba (alice alone cannot approve it)
    policy: str  # an administrator's AccessPolicy that offers dba to nobody who exists
    log_start: int
    bindings_before: set
    created: dict = field(default_factory=lambda: {kind: set() for kind in PLURALS})


def managed_bindings(gatepass) -> set:
    out = set()
    for kind in ("rolebindings", "clusterrolebindings"):
        items = json.loads(gatepass.kubectl("get", kind, "-A", "-l", "gatepass.dev/managed=true",
                                            "-o", "json").stdout)["items"]
        out |= {(kind, b["metadata"].get("namespace", ""), b["metadata"]["name"]) for b in items}
    return out


def errors_counted(gatepass) -> float:
    """gatepass_admission_reviews_total{decision="error"}, summed over webhooks."""
    status, text = gatepass.operator.get("/metrics")
    assert status == 200
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("gatepass_admission_reviews_total{") and 'decision="error"' in line)


@pytest.fixture(scope="module")
def scene(gatepass) -> Iterator[Scene]:
    request = unique("malformed-target")
    create_request(gatepass, request)
    policy = unique("malformed-policy")
    gatepass.kubectl("apply", "-f", "-", input=json.dumps(nobodys_policy(policy)))
    scene = Scene(request, policy, len(gatepass.operator.log()), managed_bindings(gatepass))
    errors = errors_counted(gatepass)
    yield scene
    # Nothing was granted, nothing failed, and the operator said nothing worse than a refusal.
    try:
        assert managed_bindings(gatepass) <= scene.bindings_before, "a binding appeared"
        wait_for(lambda: can_i(gatepass, "bob") == "no", what="bob to have no access")  # RBAC's cache follows
        assert errors_counted(gatepass) == errors, "an admission webhook failed"
        log = gatepass.operator.log()[scene.log_start:]
        problems = [line for line in log.splitlines()
                    if any(p in line for p in LOG_PROBLEMS) or FAILED_RECONCILE.search(line)]
        assert not problems, "\n".join(problems[:5])
    finally:
        for kind, names in scene.created.items():
            for name in names:
                gatepass.kubectl("delete", PLURALS[kind], name, "--ignore-not-found", "--wait=false", check=False)
        gatepass.kubectl("delete", "accessrequest", request, "--ignore-not-found", "--wait=false", check=False)
        gatepass.kubectl("delete", "accesspolicy", policy, "--ignore-not-found", check=False)


# ------------------------------------------------------------------------------------------ checking

def send(gatepass, user: str, kind: str, body: object, name: str | None = None) -> tuple[dict | None, str | None]:
    """Creates (or, with ``name``, merge-patches) as ``user``: (the stored object, None) or (None, the refusal)."""
    api = gatepass.cluster.custom(user)
    try:
        if name is None:
            return api.create_cluster_custom_object(GROUP, VERSION, PLURALS[kind], body), None
        return api.patch_cluster_custom_object(GROUP, VERSION, PLURALS[kind], name, body), None
    except ApiException as error:
        try:
            message = json.loads(error.body).get("message", "")
        except (TypeError, ValueError):
            message = str(error.body or error.reason)
        assert error.status in (400, 403, 404, 409, 413, 422), f"{error.status}: {message[:500]}"
        return None, message


def check_answer(scene: Scene, kind: str, stored: dict | None, message: str | None) -> None:
    event("accepted" if message is None else "refused by Gatepass" if "gatepass.dev" in message
          and "admission webhook" in message else "refused by the API server")
    if message is not None:
        assert "\n" not in message, message[:2000]
        leaked = [word for word in INTERNALS if word in message]
        assert not leaked, f"{leaked}: {message[:2000]}"
        if "admission webhook" in message and "gatepass.dev" in message:  # one of ours: short, too
            assert len(message) <= MAX_REFUSAL, message[:2000]
        return
    assert stored is not None
    scene.created[kind].add(stored["metadata"]["name"])
    try:
        parse_object(MODELS[kind], stored)  # accepted: it must be valid under the schema
    except InvalidObject as error:
        pytest.fail(f"accepted an invalid {kind}: {error}")


def request_base(name: str) -> dict:
    return json.loads(request_manifest(name))


def nobodys_policy(name: str) -> dict:
    """A policy offering dba in payments to a user who does not exist."""
    return policy_body(name, role="nobodys-dba", requesters={"users": ["nobody-at-all"]})


def review_base(name: str, request: str) -> dict:
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AccessReview", "metadata": {"name": name},
            "spec": {"request": request, "decision": "Approve", "reason": "looks fine"}}


NAMES = st.integers(0, 10**9).map(lambda n: f"malformed-{n:09d}")


# ------------------------------------------------------------------------------------------ tests

@SETTINGS
@given(data=st.data(), user=st.sampled_from(["bob", "admin"]))
def test_malformed_requests_are_refused_in_one_line(gatepass, scene, data, user):
    body = data.draw(malformed(request_base(data.draw(NAMES))))
    stored, message = send(gatepass, user, "AccessRequest", body)
    check_answer(scene, "AccessRequest", stored, message)


@SETTINGS
@given(data=st.data(), user=st.sampled_from(["alice", "admin"]))
def test_malformed_reviews_are_refused_in_one_line(gatepass, scene, data, user):
    body = data.draw(malformed(review_base(data.draw(NAMES), scene.request)))
    stored, message = send(gatepass, user, "AccessReview", body)
    check_answer(scene, "AccessReview", stored, message)


@SETTINGS
@given(data=st.data(), user=st.sampled_from(["admin", "alice"]))
def test_malformed_policies_are_refused_in_one_line(gatepass, scene, data, user):
    base = nobodys_policy(data.draw(NAMES))
    stored, message = send(gatepass, user, "AccessPolicy", data.draw(malformed(base)))
    check_answer(scene, "AccessPolicy", stored, message)


@SETTINGS
@given(data=st.data(), user=st.sampled_from(["bob", "alice", "admin"]))
def test_malformed_changes_to_a_request_are_refused_in_one_line(gatepass, scene, data, user):
    base = request_base(scene.request)  # as created: what is drawn must not depend on what earlier patches did
    base["metadata"].update(labels={"ticket": "INC-1"}, annotations={"example.com/note": "n"})
    patch = data.draw(malformed(base, type_meta=False))
    stored, message = send(gatepass, user, "AccessRequest", patch, name=scene.request)
    check_answer(scene, "AccessRequest", stored, message)


@SETTINGS
@given(data=st.data())
def test_malformed_changes_to_a_policy_are_refused_in_one_line(gatepass, scene, data):
    patch = data.draw(malformed(nobodys_policy(scene.policy), type_meta=False))
    stored, message = send(gatepass, "admin", "AccessPolicy", patch, name=scene.policy)
    check_answer(scene, "AccessPolicy", stored, message)


# ------------------------------------------------------------------ the examples from the report, by kubectl

def test_kubectl_shows_one_line_for_a_spec_that_is_a_string(gatepass, scene):
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AccessRequest", "metadata": {"name": unique("str")},
            "spec": "a string"}
    result = gatepass.kubectl("create", "-f", "-", user="bob", check=False, input=json.dumps(body))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(": spec must be an object (What is requested, for how long and why)")
    assert 'admission webhook "mutate-accessrequest.gatepass.dev" denied the request' in lines[0]


def test_kubectl_shows_one_line_for_a_review_of_a_number(gatepass, scene):
    body = review_base(unique("num"), scene.request)
    body["spec"]["request"] = 12345
    result = gatepass.kubectl("create", "-f", "-", user="alice", check=False, input=json.dumps(body))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(
        "spec.request must be a string (Name of the AccessRequest reviewed)"), lines


def test_kubectl_shows_one_line_for_a_malformed_policy(gatepass, scene):
    body = policy_body(unique("pol"))
    body["spec"].update(requesters="developers", roles=5)
    result = gatepass.kubectl("create", "-f", "-", check=False, input=json.dumps(body))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "spec.requesters must be an object" in lines[0], lines
    assert 'admission webhook "mutate-accesspolicy.gatepass.dev"' in lines[0]


@pytest.mark.parametrize("depth", [900, 5000])
def test_deep_nesting_is_refused_in_one_line(gatepass, scene, depth):
    """Deeper than Python's recursion limit: sent as raw JSON, without field validation."""
    name = unique("deep")
    raw = (f'{{"apiVersion": "{GROUP}/{VERSION}", "kind": "AccessRequest", "metadata": {{"name": "{name}"}}, '
           f'"spec": {{"roles": {"[" * depth}"dba"{"]" * depth}, "namespaces": ["payments"], "reason": "r"}}}}')
    result = gatepass.kubectl("create", "--validate=false", "-f", "-", user="bob", check=False, input=raw)
    assert result.returncode != 0
    message = result.stderr.strip()
    assert "\n" not in message and not [word for word in INTERNALS if word in message], message[:2000]
    # Read and refused at spec.roles[0], or, deeper than Python reads JSON, refused unread.
    assert "spec.roles[0] must be a string" in message or TOO_DEEP in message, message[:2000]
    log = gatepass.operator.log()[scene.log_start:]
    assert "Traceback" not in log and "Error handling request" not in log


# ------------------------------------------------------------------ odd but valid: read without a traceback

@pytest.fixture(scope="module")
def notified_role(gatepass) -> Iterator[str]:
    """A role of its own, under a policy like demo-dba whose requests are notified to every fake receiver."""
    name = unique("odd-notified")
    body = policy_body(name, role=name, thresholds=[{"name": "two", "approvals": 2}], maxStartDelay="2562047h",
                       notify=[{"receiver": r} for r in ("slack", "ops-webhook", "pagerduty")])
    gatepass.kubectl("apply", "-f", "-", input=json.dumps(body))
    yield name
    gatepass.kubectl("delete", "accesspolicy", name, "--ignore-not-found", check=False)


def log_problems(gatepass, start: int, name: str) -> list[str]:
    return [line for line in gatepass.operator.log()[start:].splitlines()
            if "Traceback" in line or (name in line and (any(p in line for p in LOG_PROBLEMS) or " failed" in line))]


@pytest.mark.parametrize("spec, approval, outcome", [
    # As far ahead as a policy may allow (its maxStartDelay at the longest duration there is).
    pytest.param({"startTime": "2300-01-01T00:00:00Z"}, "ok", {"Approved"}, id="start-centuries-ahead"),
    pytest.param({"startTime": "0001-01-01T00:00:00Z", "duration": "1s"}, "ok", {"Approved", "Expired"},
                 id="start-at-the-beginning"),
    pytest.param({"reason": "ü🙂\u202e\x00" * 1024}, "ok", {"Approved"}, id="reason-of-4096-odd-characters"),
    pytest.param({"reviewers": ["\u202e" + "r" * 1000, "system:masters"]}, "ok", {"Approved"}, id="odd-reviewers"),
    pytest.param({}, "ü\u202e\x1b[31m\n" * 200, {"Approved"}, id="approval-reason-with-control-characters"),
    pytest.param({}, "y" * 5000, "the reason in gatepass.dev/approve has 5000 characters; at most 4096 can be recorded",
                 id="approval-reason-longer-than-a-review-reason"),
])
def test_odd_but_valid_requests_are_decided_quietly(gatepass, fakes, notified_role, spec, approval, outcome):
    """Objects the schema allows, however odd, are decided (or refused in one line) and notified about without a
    failed reconcile or a traceback."""
    start = len(gatepass.operator.log())
    name = unique("odd")
    gatepass.kubectl("apply", "-f", "-", user="bob", input=request_manifest(name, roles=(notified_role,), **spec))
    try:
        for user in ("alice", "ivan"):
            result = gatepass.kubectl("annotate", "accessrequest", name, f"gatepass.dev/approve={approval}",
                                      user=user, check=False)
            if isinstance(outcome, str):
                message = result.stderr.strip()
                assert result.returncode != 0 and message.endswith(outcome) and "\n" not in message, message
        if isinstance(outcome, str):
            assert get(gatepass, "accessrequest", name)["status"]["approvals"] == 0
        else:
            wait_for(lambda: (get(gatepass, "accessrequest", name).get("status") or {}).get("state") in outcome,
                     what=f"{name} to be decided")
            wait_for(lambda: "Approved" in [d.event for d in fakes.webhook.deliveries("/hook", name)],
                     what=f"the webhook to hear that {name} was approved")
        problems = log_problems(gatepass, start, name)
        assert not problems, "\n".join(problems[:5])
    finally:
        gatepass.kubectl("delete", "accessrequest", name, "--ignore-not-found", check=False)
        wait_for(lambda: not bindings_of(gatepass, name), timeout=60, what=f"the bindings of {name} to go")
