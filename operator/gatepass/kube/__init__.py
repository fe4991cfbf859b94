"""The client kit the operator, the kubectl plugin and the reviewers share.

What every program that talks to the API server needs the same way: how a
connection is configured (kubeconfig or in-cluster) and how the API server's
answers become one line for a person. It may import the Kubernetes client, PyYAML
and the core's names (and, in ``http``, the operator's asynchronous client, aiohttp
and pydantic-core's JSON); it runs no watch and decides nothing.
"""
