"""Programmable reviewers: an automated reviewer written as a plain Python function.

A reviewer is ``def review(request: ReviewRequest) -> Approve | Deny | Abstain``.
``run(review)`` connects with its own Kubernetes identity (a kubeconfig
context, or the ServiceAccount of the pod it runs in), watches AccessRequests,
asks the function about each Pending request it has not reviewed yet, and
records an Approve or Deny as an AccessReview. The admission webhook stamps
the reviewer from the API server's authentication and refuses the review
unless the governing AccessPolicy names that identity as a reviewer, so a
bot's review counts exactly like a person's, and only where a person's would.

This package is a client of the Kubernetes API, like ``kubectl access``. It
talks to the API only as the reviewer's identity, through the official
``kubernetes`` client, and only to learn that identity (a SelfSubjectReview),
to list and watch AccessRequests, to list the identity's own AccessReviews and
to create AccessReviews. It never writes ``spec.reviewer``, ``spec.requester``,
annotations or any status. It may import ``gatepass.core`` (pure decisions and
formats), ``gatepass.api.values`` (objects into core values), the client kit
``gatepass.kube`` (connection, error messages), the standard library, PyYAML
and ``kubernetes``; it may not import the operator (``gatepass.controller``,
``gatepass.webhooks``, ``gatepass.process``), the rest of the schema layer, the
kubectl plugin, kopf, aiohttp, pykube, or the development cluster. Deciding which requests to ask about (``selection``) and
reading a request (``request``) are pure and do no I/O.
"""

from __future__ import annotations

from .request import ReviewRequest
from .results import Abstain, Approve, Deny, Result, Reviewer
from .runner import run

__all__ = ["Abstain", "Approve", "Deny", "Result", "ReviewRequest", "Reviewer", "run"]
