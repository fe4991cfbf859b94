"""Policy rules: CEL expressions in an AccessPolicy that review Pending requests automatically.

This package may use celpy and the core's values, and nothing else: no kopf, no
Kubernetes client, no I/O. ``expressions`` compiles, checks and runs one
expression against a request; ``verdicts`` decides, as plain functions, whether
a request's rules are due, which rule decides it, and what the rule review
(an AccessReview by the system reviewer gatepass:rules) says and is named.
"""

from .expressions import VARIABLES, Evaluator, activation, check
from .verdicts import Failure, Verdict, choose, due, review_name, review_spec

__all__ = [
    "VARIABLES", "Evaluator", "activation", "check",
    "Failure", "Verdict", "choose", "due", "review_name", "review_spec",
]
