"""A small asyncio client for the benchmark: admin's certificate, impersonating the users it plays.

Impersonation keeps identities real: the API server authenticates the admin,
then treats the request as the impersonated user's, and Gatepass's admission
webhook sees that user, exactly as it would see a user with their own
credentials. One connection pool serves thousands of users.
"""

from __future__ import annotations

import json
import ssl
from collections import Counter
from pathlib import Path

import aiohttp
from multidict import CIMultiDict

from .apicalls import bench_key

GP = "/apis/gatepass.dev/v1alpha1"


class ApiError(RuntimeError):
    def __init__(self, status: int, text: str):
        super().__init__(f"{status}: {text[:300]}")
        self.status = status


class Api:
    def __init__(self, server: str, pki: Path, limit: int = 64):
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        context.load_cert_chain(pki / "user-admin.crt", pki / "user-admin.key")
        self.server = server
        self.calls: Counter = Counter()  # (verb, resource) -> the benchmark's own requests, see apicalls
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context, limit=limit))

    async def close(self) -> None:
        await self.session.close()

    async def call(self, method: str, path: str, body=None, user: str | None = None,
                   groups: tuple[str, ...] = (), content_type: str = "application/json") -> dict:
        headers = CIMultiDict({"Content-Type": content_type, "Accept": "application/json"})
        if user:
            headers["Impersonate-User"] = user
            for group in groups:
                headers.add("Impersonate-Group", group)
        data = None if body is None else json.dumps(body)
        self.calls[bench_key(method, path)] += 1
        async with self.session.request(method, self.server + path, data=data, headers=headers) as response:
            text = await response.text()
            if response.status >= 300:
                raise ApiError(response.status, text)
            return json.loads(text) if text else {}

    async def allowed(self, user: str, namespace: str, verb: str = "get", resource: str = "secrets") -> bool:
        review = {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": user, "resourceAttributes": {"namespace": namespace, "verb": verb, "resource": resource}},
        }
        result = await self.call("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review)
        return bool(result["status"].get("allowed"))
