"""The client kit the operator, the kubectl plugin and the reviewers share.

What every program that talks to the API server needs the same way: how a connection is configured
(kubeconfig or in-cluster: ``kubeconfig`` and ``credentials`` with the standard library and PyYAML, and
``connection``, for the reviewers, into a Kubernetes client's configuration), the operator's
asynchronous client (``http``, on aiohttp and pydantic-core's JSON) and its errors, and how the API
server's answers become one line for a person. Only ``connection`` imports the Kubernetes client; it runs
no watch and decides nothing.
"""
