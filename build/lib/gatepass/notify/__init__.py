"""Notifications about requests: to webhooks, Slack and PagerDuty, as the policies route them.

What this package may touch: the receivers' HTTP APIs (aiohttp and slack_sdk
clients, with timeouts), the files and environment variables the
notifications configuration names, and one field of the Kubernetes API:
``status.notifications`` of AccessRequests, patched through
``gatepass.controller.kubeio`` (only while metadata.uid is that of the request
it sent about) so nothing is sent twice. It never writes anything else, never
decides anything about a request (the pure rules of what to send when are
``gatepass.core.notices``), and never makes the reconciler wait: deliveries
run on queues of their own, one per receiver.

It may import ``gatepass.core`` (what is due, states, durations, backoff,
``gatepass.api.values`` for reading a request), ``gatepass.kube.errors`` for the API
server's refusals, pydantic (the configuration file), aiohttp, slack_sdk and
the ``kubernetes`` client's exceptions; never the controller or the webhooks.

The one exception is ``slack_actions``, the endpoint of the Slack buttons: it
creates an AccessReview for a verified click by a mapped Slack user, which
admission then checks like any other review.
"""
