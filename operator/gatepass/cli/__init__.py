"""`kubectl access`: the kubectl plugin for asking for, reviewing and dropping access.

This package is a client. It talks to the Kubernetes API only as the person
running it (their kubeconfig, ``--kubeconfig`` and ``--context``), over plain
HTTPS from the standard library (``kube``, ``kubeconfig``), and only to read Gatepass objects, RBAC roles
and the caller's own identity and permissions, to list the names (object metadata only) of the kinds a
policy's resource bound names (``request search``), to create AccessRequests and
AccessReviews, and to set the ``gatepass.dev/revoke`` annotation; for a grant's own credential
(``login``, ``credential``) it also files the user's CertificateSigningRequests (the private key is made
here and never sent), reads the grant's token Secret, and writes the grant's context into the user's
kubeconfig. It never
writes ``spec.requester``, ``spec.reviewer`` or any status: who asked and who
reviewed is always the API server's to say. It may import ``gatepass.core``
(decisions, formats), ``gatepass.kube`` (connection, error lines),
``gatepass.api.values`` (reading objects into core values, imported when first
needed), the standard library, PyYAML and ``cryptography`` (keys and CSRs); it may not
import kopf, aiohttp, the ``kubernetes`` client, pykube, the webhooks, the controller, or the development cluster. It runs commands only in ``exec``, and
only the one the user gave.
"""
