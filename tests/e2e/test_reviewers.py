"""Programmable reviewers on the real control plane: the example bots run as review-bot and their reviews count.

Each bot is its own process, ``python -m gatepass.reviewers FILE:review
--kubeconfig K --context review-bot``, exactly as a user would run it; the
on-call bot asks a local fake of PagerDuty's REST API (``GET /oncalls``)
started by the test. Every test has its own namespace and AccessPolicy, so
nothing else decides its requests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from .helpers import can_i, get, policy_body, request_manifest, unique, wait_for, wait_state

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "reviewers"
BOT = "review-bot"
SERVICE_ACCOUNT = "system:serviceaccount:gatepass-reviewers:review-bot"  # examples/reviewers/deploy.yaml
WAIT = 60  # seconds for the bot and the operator to act; other suites may share the machine
PAGERDUTY_TOKEN = "pd-e2e-token"


class BotProcess:
    """A reviewer function running as its own process with the review-bot context."""

    def __init__(self, kubeconfig: Path, target: str, log_path: Path, env: dict[str, str]) -> None:
        command = [sys.executable, "-m", "gatepass.reviewers", target, "--kubeconfig", str(kubeconfig),
                   "--context", BOT]
        self.log_path = log_path
        self._log = log_path.open("w")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                        env={**os.environ, **env}, cwd=REPO)

    def messages(self) -> list[str]:
        """The log's messages, without the time and level."""
        lines = self.log_path.read_text().splitlines()
        return [line.split(" ", 3)[3] for line in lines if line.count(" ") >= 3]

    def wait_for_message(self, start: str, timeout: float = WAIT) -> str:
        def found():
            assert self.process.poll() is None, f"the bot exited: {self.log_path.read_text()}"
            return next((m for m in self.messages() if m.startswith(start)), None)

        return wait_for(found, timeout=timeout, interval=0.2, what=f"the bot to log {start!r}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            self._log.close()


@contextmanager
def bot(gatepass, tmp_path: Path, example: str | Path, **env: str) -> Iterator[BotProcess]:
    """The function ``review`` in an example (its file name) or in any file (a Path)."""
    path = example if isinstance(example, Path) else EXAMPLES / example
    example = path.name
    process = BotProcess(gatepass.cluster.kubeconfig, f"{path}:review", tmp_path / f"{example}.log", env)
    try:
        # It learnt who it is from a SelfSubjectReview, listed what is there, and watches.
        process.wait_for_message(f"Watching AccessRequests as {BOT}")
        yield process
    finally:
        code = process.stop()
        print(f"\n--- {example} bot log ---\n{process.log_path.read_text()}")
    assert code == 0, f"the bot exited with {code} on SIGTERM"
    assert process.messages()[-1] == "Stopped"


@pytest.fixture
def other_namespace(cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = cluster.core()
    core.create_namespace({"metadata": {"name": name, "labels": {"gatepass.dev/test": "true"}}})
    yield name
    core.delete_namespace(name)


def apply_policy(gatepass, namespace: str, *, requesters: dict, reviewers: dict) -> str:
    name = unique("bots")
    policy = policy_body(name, "dba", (namespace,), requesters=requesters, reviewers=reviewers,
                         thresholds=[{"name": "one", "approvals": 1}], requestTTL="1h", requireReason=True)
    gatepass.kubectl("apply", "-f", "-", input=json.dumps(policy))
    return name


def file_request(gatepass, user: str, namespace: str, reason: str) -> str:
    """Files a request as ``user`` without waiting for a state: the bot may decide it at once."""
    name = unique(f"{user}-dba")
    gatepass.kubectl("apply", "-f", "-", user=user,
                     input=request_manifest(name, namespaces=(namespace,), reason=reason))
    return name


def revoke(gatepass, *names: str) -> None:
    for name in names:
        gatepass.kubectl("annotate", "accessrequest", name, "gatepass.dev/revoke=test cleanup", check=False)


def reviews_by(gatepass, username: str, request: str) -> list[dict]:
    items = json.loads(gatepass.kubectl("get", "accessreviews", "-o", "json").stdout)["items"]
    return [r for r in items
            if r["spec"]["request"] == request and (r["spec"].get("reviewer") or {}).get("username") == username]


def only_review(body: dict) -> dict:
    reviews = body["status"]["reviews"]
    assert len(reviews) == 1, reviews
    return reviews[0]


def test_ticket_bot_approves_a_cited_open_ticket_and_denies_a_contractor_without_one(gatepass, namespace, tmp_path):
    policy = apply_policy(gatepass, namespace, requesters={"groups": ["contractors"]},
                          reviewers={"users": [BOT, "alice"]})
    tickets = tmp_path / "open-tickets.yaml"
    tickets.write_text("open: [PAY-123]\n")
    approved = denied = ""
    try:
        with bot(gatepass, tmp_path, "tickets.py", GATEPASS_TICKETS=str(tickets)) as ticket_bot:
            assert can_i(gatepass, "carol", namespace=namespace) == "no"

            approved = file_request(gatepass, "carol", namespace, "PAY-123: refunds are stuck")
            body = wait_state(gatepass, approved, "Approved", timeout=WAIT)
            assert body["status"]["policy"] == policy
            review = only_review(body)
            assert (review["reviewer"], review["decision"], review["via"], review["reason"]) == \
                (BOT, "Approve", "AccessReview", "ticket PAY-123 is open")
            # The AccessReview names review-bot because admission stamped it from the bot's credentials.
            assert get(gatepass, "accessreview", review["review"])["spec"]["reviewer"]["username"] == BOT
            assert wait_for(lambda: can_i(gatepass, "carol", namespace=namespace) == "yes", timeout=WAIT,
                            what="carol's access")

            denied = file_request(gatepass, "carol", namespace, "having a look around")
            body = wait_state(gatepass, denied, "Denied", timeout=WAIT)
            review = only_review(body)
            assert (review["reviewer"], review["decision"], review["reason"]) == \
                (BOT, "Deny", "a contractor's reason must cite an open ticket (e.g. PAY-123)")

            assert ticket_bot.wait_for_message(f"Approved AccessRequest {approved} as {BOT} (AccessReview ")
            assert ticket_bot.wait_for_message(f"Denied AccessRequest {denied} as {BOT} (AccessReview ")
    finally:
        revoke(gatepass, *filter(None, (approved, denied)))
        gatepass.kubectl("delete", "accesspolicy", policy, check=False)


def test_a_bot_that_is_not_a_reviewer_is_refused_and_not_counted(gatepass, namespace, other_namespace, tmp_path):
    counted = apply_policy(gatepass, namespace, requesters={"groups": ["contractors"]}, reviewers={"users": [BOT]})
    ignored = apply_policy(gatepass, other_namespace, requesters={"groups": ["contractors"]},
                           reviewers={"users": ["alice"]})
    tickets = tmp_path / "open-tickets.yaml"
    tickets.write_text("[]\n")
    outside = inside = ""
    try:
        with bot(gatepass, tmp_path, "tickets.py", GATEPASS_TICKETS=str(tickets)) as ticket_bot:
            outside = file_request(gatepass, "carol", other_namespace, "having a look around")
            refusal = ticket_bot.wait_for_message(f"Could not review AccessRequest {outside}")
            assert refusal == (f"Could not review AccessRequest {outside} as {BOT} (Deny): "
                               f"{BOT} is not a reviewer under policy {ignored}")
            body = get(gatepass, "accessrequest", outside)
            assert body["status"]["state"] == "Pending" and not body["status"].get("reviews")
            assert reviews_by(gatepass, BOT, outside) == []

            # A later change to the request is not a reason to try again: the label event is seen
            # before the next request's, which the bot decides.
            gatepass.kubectl("label", "accessrequest", outside, "touched=yes")
            inside = file_request(gatepass, "carol", namespace, "having a look around")
            assert only_review(wait_state(gatepass, inside, "Denied", timeout=WAIT))["reviewer"] == BOT
            ticket_bot.wait_for_message(f"Denied AccessRequest {inside}")
            assert sum(m.startswith(f"Could not review AccessRequest {outside}") for m in ticket_bot.messages()) == 1
            assert get(gatepass, "accessrequest", outside)["status"]["state"] == "Pending"
    finally:
        revoke(gatepass, *filter(None, (outside, inside)))
        gatepass.kubectl("delete", "accesspolicy", counted, ignored, check=False)


def test_a_bot_reviews_a_request_whose_name_is_too_long_for_a_label(gatepass, namespace, tmp_path):
    """Names may be 253 characters, label values 63: the review is still a valid object, and it counts."""
    from gatepass.core.grants import request_label

    policy = apply_policy(gatepass, namespace, requesters={"groups": ["contractors"]}, reviewers={"users": [BOT]})
    tickets = tmp_path / "open-tickets.yaml"
    tickets.write_text("open: [PAY-123]\n")
    name = unique("carol-dba") + "." + "refunds-" * 28 + "x"  # 253 characters at most
    assert 200 < len(name) <= 253
    try:
        with bot(gatepass, tmp_path, "tickets.py", GATEPASS_TICKETS=str(tickets)) as ticket_bot:
            gatepass.kubectl("apply", "-f", "-", user="carol",
                             input=request_manifest(name, namespaces=(namespace,), reason="PAY-123: refunds"))
            review = only_review(wait_state(gatepass, name, "Approved", timeout=WAIT))
            assert (review["reviewer"], review["reason"]) == (BOT, "ticket PAY-123 is open")
            stored = get(gatepass, "accessreview", review["review"])
            assert stored["metadata"]["labels"]["gatepass.dev/request"] == request_label(name)
            assert len(stored["metadata"]["name"]) <= 63
            ticket_bot.wait_for_message(f"Approved AccessRequest {name} as {BOT}")
    finally:
        revoke(gatepass, name)
        gatepass.kubectl("delete", "accesspolicy", policy, check=False)


HELD_BOT = """
import os
import time
from pathlib import Path

from gatepass.reviewers import Abstain, Approve

SIGNALS = Path(os.environ["HELD_SIGNALS"])
held = set()


def review(request):
    if request.reason != os.environ["HELD_REASON"]:
        return Abstain()  # another suite's request
    if request.name not in held:  # the first time: a slow lookup, during which the test replaces the request
        held.add(request.name)
        (SIGNALS / "asked").write_text(request.uid)
        deadline = time.monotonic() + 120
        while not (SIGNALS / "go").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    return Approve(f"judged {request.uid}")
"""


def test_a_verdict_about_a_deleted_request_never_counts_for_its_namesake(gatepass, namespace, tmp_path):
    """The function is still deciding when the request is deleted and another filed under its name: the
    review names the uid it judged, admission refuses it, and the new request is judged on its own."""
    policy = apply_policy(gatepass, namespace, requesters={"groups": ["contractors"]}, reviewers={"users": [BOT]})
    source = tmp_path / "held.py"
    source.write_text(HELD_BOT)
    signals = tmp_path / "signals"
    signals.mkdir()
    reason = f"held {uuid.uuid4().hex[:8]}"
    name = ""
    try:
        with bot(gatepass, tmp_path, source, HELD_SIGNALS=str(signals), HELD_REASON=reason) as held_bot:
            name = file_request(gatepass, "carol", namespace, reason)
            first = wait_for(lambda: (signals / "asked").exists() and (signals / "asked").read_text(),
                             timeout=WAIT, what="the bot to be asked")
            gatepass.kubectl("delete", "accessrequest", name, "--wait=true")
            gatepass.kubectl("apply", "-f", "-", user="carol",
                             input=request_manifest(name, namespaces=(namespace,), reason=reason))
            second = wait_state(gatepass, name, "Pending", timeout=WAIT)["metadata"]["uid"]
            assert second != first
            (signals / "go").touch()

            refusal = held_bot.wait_for_message(f"Could not review AccessRequest {name}")
            assert refusal.startswith(f"Could not review AccessRequest {name} as {BOT} (Approve): ")
            assert "\n" not in refusal and "not the request this review was made for" in refusal
            body = wait_state(gatepass, name, "Approved", timeout=WAIT)
            review = only_review(body)
            assert (review["reviewer"], review["reason"]) == (BOT, f"judged {second}")
            stored = get(gatepass, "accessreview", review["review"])
            assert stored["metadata"]["labels"]["gatepass.dev/request-uid"] == second
            assert stored["metadata"]["labels"]["gatepass.dev/request"] == name
            assert [r["metadata"]["labels"]["gatepass.dev/request-uid"] for r in reviews_by(gatepass, BOT, name)] \
                == [second]
            held_bot.wait_for_message(f"Approved AccessRequest {name}")
            assert sum(m.startswith("Could not review") for m in held_bot.messages()) == 1
    finally:
        (signals / "go").touch()
        revoke(gatepass, *filter(None, (name,)))
        gatepass.kubectl("delete", "accesspolicy", policy, check=False)


class FakePagerDutyRest:
    """PagerDuty's REST ``GET /oncalls`` (with ``include[]=users``), answering from ``on_call``: (email, level)."""

    def __init__(self, token: str) -> None:
        self.on_call: list[tuple[str, int]] = []
        self.calls: list[tuple[dict[str, list[str]], dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                owner.calls.append((query, {k.lower(): v for k, v in self.headers.items()}))
                if self.headers.get("Authorization") != f"Token token={token}":
                    self.answer(401, {"error": {"message": "Unauthorized", "code": 2006}})
                elif url.path != "/oncalls":
                    self.answer(404, {"error": {"message": "Not Found", "code": 2100}})
                else:
                    policies = query.get("escalation_policy_ids[]", [])
                    entries = [{"escalation_level": level,
                                "escalation_policy": {"id": policy, "type": "escalation_policy_reference"},
                                "user": {"id": f"U{index}", "type": "user", "email": email, "summary": email}}
                               for policy in policies for index, (email, level) in enumerate(owner.on_call)]
                    self.answer(200, {"oncalls": entries, "limit": 100, "offset": 0, "more": False, "total": None})

            def answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="fake-pagerduty-rest", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pagerduty() -> Iterator[FakePagerDutyRest]:
    fake = FakePagerDutyRest(PAGERDUTY_TOKEN)
    yield fake
    fake.close()


def test_oncall_bot_approves_dave_while_pagerduty_has_him_on_call(gatepass, namespace, pagerduty, tmp_path):
    policy = apply_policy(gatepass, namespace, requesters={"groups": ["oncall"]}, reviewers={"users": [BOT]})
    token = tmp_path / "pagerduty-token"
    token.write_text(PAGERDUTY_TOKEN + "\n")
    off_duty = on_duty = ""
    env = {"PAGERDUTY_TOKEN_FILE": str(token), "PAGERDUTY_ESCALATION_POLICY": "PEP1",
           "PAGERDUTY_USERS": str(EXAMPLES / "pagerduty-users.yaml"), "PAGERDUTY_API_URL": pagerduty.url}
    try:
        with bot(gatepass, tmp_path, "oncall.py", **env) as oncall_bot:
            # Alice holds the pager (and the second level is dave's, which does not count): the bot abstains.
            pagerduty.on_call = [("alice@example.com", 1), ("dave@example.com", 2)]
            off_duty = file_request(gatepass, "dave", namespace, "INC-42: payments are down")
            assert oncall_bot.wait_for_message(f"Abstained on AccessRequest {off_duty}") == \
                f"Abstained on AccessRequest {off_duty}: dave is not on call for payments"
            body = wait_state(gatepass, off_duty, "Pending", timeout=WAIT)
            assert not body["status"].get("reviews") and reviews_by(gatepass, BOT, off_duty) == []

            # Dave takes the pager: his next request is approved by the bot, and he has access.
            pagerduty.on_call = [("dave@example.com", 1)]
            on_duty = file_request(gatepass, "dave", namespace, "INC-42: payments are down")
            review = only_review(wait_state(gatepass, on_duty, "Approved", timeout=WAIT))
            assert (review["reviewer"], review["decision"], review["reason"]) == \
                (BOT, "Approve", "dave is on call for payments")
            assert wait_for(lambda: can_i(gatepass, "dave", namespace=namespace) == "yes", timeout=WAIT,
                            what="dave's access")
            assert get(gatepass, "accessrequest", off_duty)["status"]["state"] == "Pending"

        query, headers = pagerduty.calls[-1]
        assert headers["authorization"] == f"Token token={PAGERDUTY_TOKEN}"
        assert query["escalation_policy_ids[]"] == ["PEP1"] and query["include[]"] == ["users"]
        # Once per request asked about, not once per event (other suites' Pending requests may be asked about too).
        consulted = [m for m in oncall_bot.messages() if " on call for " in m]
        assert len(pagerduty.calls) == len(consulted)
        assert sum(off_duty in m for m in consulted) == 1 and sum(on_duty in m for m in consulted) == 1
    finally:
        revoke(gatepass, *filter(None, (off_duty, on_duty)))
        gatepass.kubectl("delete", "accesspolicy", policy, check=False)


def test_the_shipped_deployment_runs_a_bot_as_its_own_service_account(gatepass, namespace, tmp_path):
    gatepass.kubectl("apply", "-k", str(EXAMPLES))
    # The example policies pass admission (a dry run: the other suites' requests are not theirs to govern).
    gatepass.kubectl("apply", "--dry-run=server", "-f", str(EXAMPLES / "policy.yaml"))
    policy = apply_policy(gatepass, namespace, requesters={"groups": ["contractors"]},
                          reviewers={"users": [SERVICE_ACCOUNT]})
    denied = ""
    try:
        # The ServiceAccount may read requests and create reviews, and nothing more.
        def may(verb: str, resource: str) -> str:
            answer = gatepass.kubectl("auth", "can-i", verb, resource, "--as", SERVICE_ACCOUNT, check=False)
            return answer.stdout.strip()

        assert [may(v, "accessrequests.gatepass.dev") for v in ("list", "watch", "patch", "delete")] == \
            ["yes", "yes", "no", "no"]
        assert [may(v, "accessreviews.gatepass.dev") for v in ("create", "list", "delete")] == ["yes", "yes", "no"]
        assert may("create", "selfsubjectreviews.authentication.k8s.io") == "yes"
        assert may("get", "accesspolicies.gatepass.dev") == "no"
        assert may("patch", "accessrequests.gatepass.dev/status") == "no"

        # Run as that ServiceAccount (a token, as its pod would have; no kubelet runs pods here).
        sa_token = gatepass.kubectl("create", "token", "review-bot", "-n", "gatepass-reviewers",
                                    "--duration=1h").stdout.strip()
        config = yaml.safe_load(gatepass.cluster.kubeconfig.read_text())
        config["users"] = [{"name": "sa", "user": {"token": sa_token}}]
        config["contexts"] = [{"name": BOT, "context": {"cluster": config["clusters"][0]["name"], "user": "sa"}}]
        config["current-context"] = BOT
        kubeconfig = tmp_path / "service-account.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(config))
        tickets = tmp_path / "open-tickets.yaml"
        tickets.write_text("[]\n")
        process = BotProcess(kubeconfig, f"{EXAMPLES / 'tickets.py'}:review", tmp_path / "sa.log",
                             {"GATEPASS_TICKETS": str(tickets)})
        try:
            process.wait_for_message(f"Watching AccessRequests as {SERVICE_ACCOUNT}")
            denied = file_request(gatepass, "carol", namespace, "having a look around")
            review = only_review(wait_state(gatepass, denied, "Denied", timeout=WAIT))
            assert (review["reviewer"], review["decision"]) == (SERVICE_ACCOUNT, "Deny")
        finally:
            assert process.stop() == 0
            print(f"\n--- service account bot log ---\n{process.log_path.read_text()}")
    finally:
        revoke(gatepass, *filter(None, (denied,)))
        gatepass.kubectl("delete", "accesspolicy", policy, check=False)
        gatepass.kubectl("delete", "-k", str(EXAMPLES), "--wait=false", check=False)
