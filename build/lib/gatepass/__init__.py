"""Gatepass: just-in-time access requests for Kubernetes.

Users ask for a role with an AccessRequest, reviewers answer with approvals or
denials, an AccessPolicy says who may ask for what and how many approvals it
takes, and the operator binds the role for a limited time and removes the
binding when the time is up or the access is revoked. The decisions live in
`gatepass.core`, which is pure; everything that talks to the API server lives
in the other packages.
"""
