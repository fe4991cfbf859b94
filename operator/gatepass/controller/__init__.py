"""The operator's moving parts around the pure core.

kopf watch events fill an in-memory view of the cluster (``store``) and put
request names on a work queue (``queue``), which also holds the per-request
deadlines. The reconciler reads the view, asks ``gatepass.core`` what should be,
and ``kubeio`` makes it so (RoleBindings, status, Events). This package may talk
to the Kubernetes API and read the clock; it makes no access decision itself.
"""
