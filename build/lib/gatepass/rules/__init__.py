"""Policy rules: CEL expressions in an AccessPolicy that review Pending requests automatically.

This package may use celpy and the core's values, and nothing else: no kopf, no
Kubernetes client, no I/O. ``expressions`` compiles, checks and runs one
expression against a request, within limits on what it may cost, and keeps
what the requester sets (name, reason, labels, suggested reviewers) away from
Approve rules, at admission and at evaluation; ``verdicts``
decides, as plain functions, whether a request's rules are due, which rule
decides it, and what the rule review (an AccessReview by the system reviewer
gatepass:rules) says and is named; ``workers`` runs the evaluations and checks
in worker threads, off the caller's event loop, each within its time budget.
"""

from .expressions import BUDGET, MAX_LITERAL, VARIABLES, activation, check
from .verdicts import Failure, Verdict, choose, due, review_name, review_spec
from .workers import check_all, verdict

__all__ = [
    "BUDGET", "MAX_LITERAL", "VARIABLES", "activation", "check",
    "Failure", "Verdict", "choose", "due", "review_name", "review_spec",
    "check_all", "verdict",
]
