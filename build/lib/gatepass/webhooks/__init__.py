"""Admission: who is asking, and may they?

The API server calls these webhooks on every write to AccessRequests,
AccessReviews and AccessPolicies. The mutating hooks stamp the caller's
identity from the API server's authentication into the object (replacing
anything the client wrote) and turn review and revoke annotations into an
identity-bound ledger; the validating hooks refuse what no policy allows, with
one clear line. Decisions are made by ``gatepass.core``; this package only
reads the cluster and answers.

May touch: ``gatepass.core``, ``gatepass.api`` (parsing at the edge),
``gatepass.rules`` (checking a policy's rules), kopf and the Kubernetes client's
types. It reads the cluster only through the ``cluster.Cluster`` protocol it is
given, and never imports the controller, the notifications or the process.
``registration.register(registry, cluster)`` adds the handlers (``requests``,
``reviews``, ``policies``) to a kopf registry; ``config`` builds the webhook
configurations, failing closed; ``guard`` and ``metrics`` wrap every handler.
"""
