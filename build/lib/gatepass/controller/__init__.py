"""Reconciling, and nothing else: the operator's moving parts around the pure core.

kopf watch events fill an in-memory view of the cluster (``store``) and put
request names on a work queue (``queue``), which also holds the per-request
deadlines. The reconciler reads the view, asks ``gatepass.core`` what should be,
and ``kubeio`` makes it so (RoleBindings, status, Events, the audit trail).
``handlers.register`` adds the watch handlers to the registry the operator
process (``gatepass.process``) creates; the process also hands in whoever is
told about each reconcile (the notifier), which this package knows only as
``reconciler.Observer``.

This package may talk to the Kubernetes API and read the clock; it makes no
access decision itself. It may import the core, the schema layer
(``gatepass.api``), the rules and the client kit (``gatepass.kube``); never the
webhooks, the notifications or the process.
"""
