"""Admission: who is asking, and may they?

The API server calls these webhooks on every write to AccessRequests and
AccessReviews. The mutating hooks stamp the caller's identity from the API
server's authentication into the object (replacing anything the client wrote)
and turn review and revoke annotations into an identity-bound ledger; the
validating hooks refuse what no policy allows, with one clear line. Decisions
are made by ``gatepass.core``; this package only reads the cluster and answers.
``config`` builds the webhook configurations, failing closed.
"""
