"""AccessRequests as the API returns them, and a stand-in for the reviewer's API, for unit tests."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from gatepass.reviewers.kube import Refused, Unavailable


def request_obj(name: str = "carol-dba-x1", state: str | None = "Pending", *, user: str = "carol",
                groups=("contractors",), roles=("dba",), namespaces=("payments",), reason: str = "PAY-123",
                duration: str = "1h", labels: Mapping[str, str] | None = None, reviews=(),
                annotations: Mapping[str, str] | None = None, uid: str | None = None, **extra) -> dict:
    obj = {
        "apiVersion": "gatepass.dev/v1alpha1",
        "kind": "AccessRequest",
        "metadata": {"name": name, "uid": uid or f"uid-{name}", "creationTimestamp": "2026-11-24T09:30:00Z",
                     "resourceVersion": "1", "labels": dict(labels or {}), "annotations": dict(annotations or {})},
        "spec": {"roles": list(roles), "duration": duration, "reason": reason, "reviewers": ["alice"],
                 "requester": {"username": user, "groups": [*groups, "system:authenticated"]}},
        "status": {"state": state, "policy": "contractors-dba",
                   "reviews": [{"reviewer": r, "decision": "Approve", "time": "2026-11-24T09:31:00Z",
                                "via": "AccessReview"} for r in reviews]} if state else {},
    }
    if namespaces:
        obj["spec"]["namespaces"] = list(namespaces)
    obj["metadata"].update(extra.pop("metadata", {}))
    obj["spec"].update(extra)
    return obj


def review_obj(request: str, reviewer: str = "review-bot", decision: str = "Approve", *,
               uid: str | None = None) -> dict:
    """An AccessReview by ``reviewer``; ``uid``: its request's (the label admission checks), "" for none."""
    uid = f"uid-{request}" if uid is None else uid
    return {"metadata": {"name": f"{reviewer}-{request}-abcde",
                         "labels": {"gatepass.dev/request-uid": uid} if uid else {}},
            "spec": {"request": request, "decision": decision, "reviewer": {"username": reviewer}}}


class FakeApi:
    """The reviewer's API with canned objects; records what is created and refuses as told.

    Like admission, it refuses a review whose request-uid label is not the uid of the request of
    that name in ``requests`` (the request was deleted and another filed under its name).
    """

    def __init__(self, me: str = "review-bot", requests=(), reviews=()) -> None:
        self.me = me
        self.requests = [copy.deepcopy(r) for r in requests]
        self.reviews = [copy.deepcopy(r) for r in reviews]
        self.created: list[dict] = []
        self.refuse: dict[str, str] = {}  # request name -> admission message
        self.unavailable = 0  # this many create calls fail as if the cluster were down
        self.events: list[tuple[str, dict]] = []

    def whoami(self) -> str:
        return self.me

    def list_requests(self) -> tuple[list[dict], str]:
        return copy.deepcopy(self.requests), "100"

    def list_reviews_by(self, username: str) -> list[dict]:
        return [r for r in self.reviews if r["spec"]["reviewer"]["username"] == username]

    def watch_requests(self, resource_version: str, timeout: int = 300):
        yield from self.events

    def create_review(self, body: Mapping) -> dict:
        request = body["spec"]["request"]
        if self.unavailable:
            self.unavailable -= 1
            raise Unavailable("create AccessReview: Internal error occurred: failed calling webhook")
        if request in self.refuse:
            raise Refused(f"create AccessReview: {self.refuse[request]}", 403)
        made_for = (body["metadata"].get("labels") or {}).get("gatepass.dev/request-uid")
        current = next((r["metadata"]["uid"] for r in self.requests if r["metadata"]["name"] == request), None)
        if made_for and current and made_for != current:
            raise Refused(f"create AccessReview: AccessRequest {request} is not the request this review was made "
                          "for (it was deleted and filed again since); nothing was recorded", 403)
        created = copy.deepcopy(dict(body))
        created["metadata"] = {"name": body["metadata"]["generateName"] + "zz9k1",
                               "labels": dict(body["metadata"].get("labels") or {})}
        self.created.append(created)
        return created
