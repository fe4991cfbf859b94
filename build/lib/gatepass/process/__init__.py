"""The operator process: what runs when ``gatepass-operator`` starts.

The flags (``args``), the log output (``logs``), the connection to the API
server (``connection``), the working parts (``runtime``), the leader election
(``leadership``), the webhook's serving certificate (``certificates``, with
``pki``), the HTTP endpoints (``endpoints``) and the wiring of all of them
into kopf (``main``), which registers every handler explicitly.

It may import every package of the operator (controller, webhooks, notify and
below); nothing but the development harness imports it.
"""
