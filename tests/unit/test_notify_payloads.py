"""What receivers get: the webhook's JSON, headers and signature; PagerDuty events; the Slack message."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

from gatepass.core.notices import ReviewNote
from gatepass.notify import payloads

NOW = datetime(2026, 11, 24, 9, 41, 22, tzinfo=timezone.utc)


def request(state: str = "Pending", **status) -> dict:
    return {
        "apiVersion": "gatepass.dev/v1alpha1", "kind": "AccessRequest",
        "metadata": {"name": "bob-dba", "uid": "3f0c-uid", "creationTimestamp": "2026-11-24T09:41:00Z"},
        "spec": {"roles": ["dba"], "namespaces": ["payments"], "duration": "1h", "reason": "ticket #123 <urgent>",
                 "reviewers": ["alice", "ivan"], "requester": {"username": "bob", "groups": ["developers"]}},
        "status": {"state": state, "policy": "demo-dba", "approvals": 1, "denials": 0,
                   "reviews": [{"reviewer": "alice", "decision": "Approve", "reason": "ok",
                                "time": "2026-11-24T09:41:10Z", "via": "annotation"}],
                   "requestExpiresAt": "2026-11-24T10:41:00Z", **status},
    }


def test_the_request_summary():
    assert payloads.request_summary(request("Approved", grantedAt="2026-11-24T09:42:07Z",
                                            expiresAt="2026-11-24T10:42:07Z")) == {
        "name": "bob-dba", "uid": "3f0c-uid", "requester": "bob", "groups": ["developers"], "roles": ["dba"],
        "namespaces": ["payments"], "clusterWide": False, "duration": "1h", "reason": "ticket #123 <urgent>",
        "reviewers": ["alice", "ivan"], "policy": "demo-dba", "state": "Approved", "approvals": 1, "denials": 0,
        "approvers": ["alice"], "deniers": [], "createdAt": "2026-11-24T09:41:00Z",
        "requestExpiresAt": "2026-11-24T10:41:00Z", "grantedAt": "2026-11-24T09:42:07Z",
        "expiresAt": "2026-11-24T10:42:07Z"}


def test_the_webhook_payload_of_a_review():
    review = ReviewNote("alice", "Approve", "ok", datetime(2026, 11, 24, 9, 41, 10, tzinfo=timezone.utc), "annotation")
    payload = payloads.webhook_payload("Reviewed", request(), review, NOW)
    assert list(payload) == ["event", "request", "review", "time"]
    assert payload["event"] == "Reviewed" and payload["time"] == "2026-11-24T09:41:22Z"
    assert payload["review"] == {"reviewer": "alice", "decision": "Approve", "reason": "ok",
                                 "time": "2026-11-24T09:41:10Z", "via": "annotation"}
    assert "review" not in payloads.webhook_payload("Created", request(), None, NOW)
    assert json.loads(payloads.encode(payload)) == payload


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    data = b'{"event":"Created"}'
    expected = hmac.new(b"s3cret", b"1795000000." + data, hashlib.sha256).hexdigest()
    assert payloads.signature("s3cret", "1795000000", data) == f"sha256={expected}"
    assert payloads.signature("s3cret", "1795000001", data) != payloads.signature("s3cret", "1795000000", data)
    assert payloads.signature("other", "1795000000", data) != payloads.signature("s3cret", "1795000000", data)


def test_the_webhook_headers():
    headers = payloads.webhook_headers("Approved", "id-1", "1795000000", "s3cret", b"{}")
    assert headers == {"Content-Type": "application/json", "User-Agent": "gatepass-notifier",
                       "X-Gatepass-Event": "Approved", "X-Gatepass-Delivery": "id-1",
                       "X-Gatepass-Timestamp": "1795000000",
                       "X-Gatepass-Signature": payloads.signature("s3cret", "1795000000", b"{}")}


def test_a_delivery_id_is_stable_per_notice_and_receiver():
    one = payloads.delivery_id("uid", "Created", "hook")
    assert one == payloads.delivery_id("uid", "Created", "hook")
    assert len({one, payloads.delivery_id("uid", "Approved", "hook"), payloads.delivery_id("uid", "Created", "x"),
                payloads.delivery_id("uid2", "Created", "hook")}) == 4


def test_pagerduty_trigger_and_resolve():
    trigger = payloads.pagerduty_trigger("key", request())
    assert trigger["routing_key"] == "key" and trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == "3f0c-uid"
    assert trigger["payload"]["summary"] == "Access request bob-dba: bob requests dba in payments for 1h: ticket #123 <urgent>"
    assert (trigger["payload"]["source"], trigger["payload"]["severity"]) == ("gatepass", "info")
    assert trigger["payload"]["timestamp"] == "2026-11-24T09:41:00Z" and trigger["payload"]["group"] == "demo-dba"
    assert trigger["payload"]["custom_details"]["reviewers"] == ["alice", "ivan"]
    assert payloads.pagerduty_resolve("key", request()) == {"routing_key": "key", "event_action": "resolve",
                                                            "dedup_key": "3f0c-uid"}
    long = request()
    long["spec"]["reason"] = "x" * 4096  # the longest reason admission lets through
    assert len(payloads.pagerduty_trigger("key", long)["payload"]["summary"]) == 1024


def buttons(blocks: list[dict]) -> list[dict]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_the_slack_message_shows_the_request_and_its_buttons_while_pending():
    text, blocks = payloads.slack_message(request(), buttons=True, event="Created")
    assert text == "Access request bob-dba: bob requests dba in payments for 1h: ticket #123 &lt;urgent&gt; (Pending)"
    shown = json.dumps(blocks)
    for part in ("*Requester*\\nbob", "*Roles*\\ndba", "*Namespaces*\\npayments", "*Duration*\\n1h",
                 "*Approvals*\\n1 (alice)", "ticket #123 &lt;urgent&gt;", "Pending", "`demo-dba`"):
        assert part in shown, part
    # The value names the request and its uid, so a click on this message never reviews a later request
    # of the same name.
    assert buttons(blocks) == [
        {"type": "button", "action_id": "gatepass.approve", "style": "primary", "value": "bob-dba/3f0c-uid",
         "text": {"type": "plain_text", "text": "Approve"}},
        {"type": "button", "action_id": "gatepass.deny", "style": "danger", "value": "bob-dba/3f0c-uid",
         "text": {"type": "plain_text", "text": "Deny"}}]
    assert payloads.button_value(request()).partition("/") == ("bob-dba", "/", "3f0c-uid")


def test_the_fallback_text_shows_markup_in_a_reason_as_written():
    body = request()
    body["spec"]["reason"] = "<!channel> see <https://evil.example/login|the runbook> & <@U0BOSS>"
    text, blocks = payloads.slack_message(body, buttons=True)
    assert "<" not in text and ">" not in text
    assert text.endswith("&lt;!channel&gt; see &lt;https://evil.example/login|the runbook&gt; &amp; "
                         "&lt;@U0BOSS&gt; (Pending)")
    assert "<" not in json.dumps(blocks)
    long = request()
    long["spec"]["reason"] = "<" * 4096  # the longest reason admission lets through
    text, _ = payloads.slack_message(long, buttons=True)
    assert text.endswith("&lt; (Pending)") and "<" not in text  # cut before escaping: no broken entity


def test_the_message_of_a_deleted_request_says_so_without_buttons():
    text, blocks = payloads.slack_message(request(), buttons=True, event="Deleted", deleted=True)
    assert text.endswith("(Deleted)") and buttons(blocks) == []
    [state] = [f["text"] for f in blocks[1]["fields"] if f["text"].startswith("*State*")]
    assert state == "*State*\n:wastebasket: *Deleted* before it was decided; nothing more can be recorded"
    assert blocks[2]["text"]["text"] == "*Reason*\nticket #123 &lt;urgent&gt;"  # still shows what was asked


def test_no_buttons_without_a_signing_secret_or_once_decided():
    assert buttons(payloads.slack_message(request(), buttons=False)[1]) == []
    approved = request("Approved", grantedAt="2026-11-24T09:42:07Z", expiresAt="2026-11-24T10:42:07Z",
                       conditions=[{"type": "Granted", "status": "True"}])
    text, blocks = payloads.slack_message(approved, buttons=True)
    assert buttons(blocks) == []
    assert "*Approved*: access until 2026-11-24 10:42:07 UTC" in json.dumps(blocks)


def test_the_state_line_says_what_it_means():
    later = request("Approved", grantedAt="2026-11-24T12:00:00Z", expiresAt="2026-11-24T13:00:00Z")
    assert payloads.slack_state(later).endswith("access from 2026-11-24 12:00:00 UTC until 2026-11-24 13:00:00 UTC")
    denied = request("Denied", reviews=[{"reviewer": "ivan", "decision": "Deny"}])
    assert payloads.slack_state(denied) == ":no_entry: *Denied* by ivan"
    revoked = request("Revoked", revokedBy="bob", revokeReason="done")
    assert payloads.slack_state(revoked) == ":leftwards_arrow_with_hook: *Revoked* by bob: done"
    assert payloads.slack_state(request()) == ":hourglass_flowing_sand: *Pending* until 2026-11-24 10:41:00 UTC"


def test_a_cluster_wide_request_and_a_long_reason():
    body = request()
    body["spec"]["namespaces"] = []
    body["spec"]["reason"] = "y" * 4000
    text, blocks = payloads.slack_message(body, buttons=True)
    assert "bob requests dba cluster-wide" in text and len(text) < 3000
    assert blocks[0]["text"]["text"] == "*bob* requests *dba* *cluster-wide* for *1h*"
    assert "*Namespaces*\ncluster-wide" in [f["text"] for f in blocks[1]["fields"]]
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section" and "text" in b)


UI = "https://gatepass.example.com"


def test_without_a_ui_url_nothing_links_to_the_ui():
    assert payloads.request_url(None, request()) is None
    assert "url" not in payloads.webhook_payload("Created", request(), None, NOW)
    trigger = payloads.pagerduty_trigger("key", request())
    assert "links" not in trigger and "url" not in trigger["payload"]["custom_details"]
    _, blocks = payloads.slack_message(request(), buttons=True)
    assert "gatepass.open" not in json.dumps(blocks) and "/requests/" not in json.dumps(blocks)


def test_webhook_and_pagerduty_carry_the_request_s_page_in_the_ui():
    assert payloads.request_url(UI + "/", request()) == f"{UI}/requests/bob-dba"
    payload = payloads.webhook_payload("Created", request(), None, NOW, UI)
    assert payload["url"] == f"{UI}/requests/bob-dba"
    assert list(payload) == ["event", "request", "url", "time"]
    trigger = payloads.pagerduty_trigger("key", request(), UI)
    assert trigger["links"] == [{"href": f"{UI}/requests/bob-dba", "text": "Open in Gatepass"}]
    assert trigger["payload"]["custom_details"]["url"] == f"{UI}/requests/bob-dba"


def test_the_slack_message_links_to_the_request_s_page_next_to_the_buttons_and_after_they_are_gone():
    link = {"type": "button", "action_id": "gatepass.open", "url": f"{UI}/requests/bob-dba",
            "text": {"type": "plain_text", "text": "Open in Gatepass"}}
    _, pending = payloads.slack_message(request(), buttons=True, ui_url=UI)
    assert [e.get("action_id") for e in buttons(pending)] == ["gatepass.approve", "gatepass.deny", "gatepass.open"]
    assert buttons(pending)[-1] == link and "value" not in link  # a URL button: a click reviews nothing
    approved = request("Approved", grantedAt="2026-11-24T09:42:07Z", expiresAt="2026-11-24T10:42:07Z")
    _, decided = payloads.slack_message(approved, buttons=True, ui_url=UI)
    assert [b for b in decided if b["type"] == "actions"] == [
        {"type": "actions", "block_id": "gatepass.links", "elements": [link]}]
    _, deleted = payloads.slack_message(request(), buttons=True, event="Deleted", deleted=True, ui_url=UI)
    assert buttons(deleted) == []  # the page is gone too


def test_a_click_on_the_link_button_is_not_a_review():
    from urllib.parse import urlencode

    from gatepass.notify import slack_actions
    click = {"type": "block_actions", "user": {"id": "U0ALICE"}, "actions": [
        {"action_id": "gatepass.open", "type": "button", "action_ts": "1.2"}]}
    assert slack_actions.parse_click(urlencode({"payload": json.dumps(click)}).encode()) is None


def resource_request() -> dict:
    body = request()
    body["spec"] = {**body["spec"], "roles": [], "namespaces": [],
                    "resources": [{"resource": "pods", "subresource": "log", "namespace": "payments",
                                   "names": ["db-1"], "verbs": ["get"]},
                                  {"resource": "nodes", "verbs": ["list"]}]}
    del body["spec"]["roles"], body["spec"]["namespaces"]
    return body


def test_receivers_see_exactly_which_verbs_on_which_objects():
    summary = payloads.request_summary(resource_request())
    assert summary["resources"] == [
        {"apiGroup": "", "resource": "pods", "subresource": "log", "namespace": "payments", "names": ["db-1"],
         "verbs": ["get"], "description": "get pods/log db-1 in payments"},
        {"apiGroup": "", "resource": "nodes", "subresource": "", "namespace": "", "names": [], "verbs": ["list"],
         "description": "list nodes (any name) cluster-wide"}]
    assert "resources" not in payloads.request_summary(request())
    assert payloads.headline(resource_request()) == (
        "bob requests get pods/log db-1 in payments and list nodes (any name) cluster-wide for 1h: "
        "ticket #123 <urgent>")


def test_the_slack_message_lists_each_resource_rule():
    text, blocks = payloads.slack_message(resource_request(), buttons=True)
    assert blocks[0]["text"]["text"] == ("*bob* requests *get pods/log db-1 in payments* and *list nodes (any name) "
                                         "cluster-wide* for *1h*")
    sections = [block["text"]["text"] for block in blocks if block.get("type") == "section" and "text" in block]
    assert "*Resources*\n• get pods/log db-1 in payments\n• list nodes (any name) cluster-wide" in sections
    fields = {f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in blocks[1]["fields"]}
    assert fields["*Roles*"] == "_none_"
    assert "get pods/log db-1 in payments" in text
