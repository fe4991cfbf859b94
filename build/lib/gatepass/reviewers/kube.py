"""Every call a reviewer makes to the Kubernetes API, as its own identity.

Objects are plain dicts as the API returns them. Failures leave here as one of
three exceptions: ``Refused`` (the API server or admission said no; asking
again will not help), ``Unavailable`` (the cluster could not be reached or
failed; try again later) and ``Gone`` (a watch asked for a resourceVersion
that is too old; list again).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import kubernetes
import urllib3
from kubernetes.client import ApiException
from kubernetes.watch.watch import iter_resp_lines

from gatepass.core.names import GROUP, REQUESTS, REVIEWS, VERSION
from gatepass.kube import connection
from gatepass.kube.errors import status_message

USER_AGENT = "gatepass-reviewer"
#: Seconds one ordinary API call may take.
CALL_TIMEOUT = 30
#: Seconds one watch call stays open before it is renewed (the API server ends it).
WATCH_TIMEOUT = 300


class ReviewerError(Exception):
    """A failure, as one line."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Refused(ReviewerError):
    """The API server or the admission webhook refused the call (4xx other than 410 and 429)."""


class Unavailable(ReviewerError):
    """The cluster could not be reached, or answered with a server error or 429."""


class Gone(ReviewerError):
    """A watch's resourceVersion is too old (410): list again."""


class ConfigError(ReviewerError):
    """No usable kubeconfig or in-cluster configuration."""


def api_message(body: object, fallback: str) -> str:
    """The message of an error response's Status, as one line without the admission webhook's name;
    ``fallback`` when the body is no Status (a proxy's error page, say)."""
    parsed = body
    if isinstance(body, (str, bytes, bytearray)):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    return status_message(parsed if isinstance(parsed, dict) else None, fallback)


def classify(status: int, message: str) -> ReviewerError:
    if status == 410:
        return Gone(message, status)
    if status == 429 or status >= 500 or status == 0:
        return Unavailable(message, status)
    return Refused(message, status)


class ReviewerApi:
    """The API as the reviewer's identity."""

    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self.api_client = api_client
        self.host = api_client.configuration.host
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.authn = kubernetes.client.AuthenticationV1Api(api_client)

    @classmethod
    def connect(cls, kubeconfig: str | None = None, context: str | None = None) -> ReviewerApi:
        """From ``kubeconfig`` (else $KUBECONFIG, else ~/.kube/config) and ``context``; inside a pod
        with none of those, from the pod's ServiceAccount (gatepass.kube.connection)."""
        try:
            configuration = connection.configuration(kubeconfig, context)
        except connection.ConfigError as error:
            raise ConfigError(str(error)) from None
        api_client = kubernetes.client.ApiClient(configuration)
        api_client.user_agent = USER_AGENT  # also the field manager the API server records
        return cls(api_client)

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except ApiException as error:
            raise classify(error.status or 0, f"{what}: {api_message(error.body, error.reason or '')}") from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise Unavailable(f"{what}: cannot reach the cluster at {self.host}: {error}") from None

    def _plain(self, obj: object) -> dict:
        return self.api_client.sanitize_for_serialization(obj)

    def whoami(self) -> str:
        """The username the API server authenticates this reviewer as (a SelfSubjectReview)."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        with self._errors("who am I (SelfSubjectReview)"):
            review = self._plain(self.authn.create_self_subject_review(body, _request_timeout=CALL_TIMEOUT))
        username = ((review.get("status") or {}).get("userInfo") or {}).get("username")
        if not username:
            raise Refused("who am I (SelfSubjectReview): the API server named no user")
        return username

    def list_requests(self) -> tuple[list[dict], str]:
        """Every AccessRequest, and the resourceVersion to watch from."""
        with self._errors("list AccessRequests"):
            listing = self.custom.list_cluster_custom_object(GROUP, VERSION, REQUESTS, _request_timeout=CALL_TIMEOUT)
        return list(listing.get("items") or ()), (listing.get("metadata") or {}).get("resourceVersion", "")

    def list_reviews_by(self, username: str) -> list[dict]:
        """The AccessReviews whose reviewer is ``username``."""
        with self._errors("list AccessReviews"):
            listing = self.custom.list_cluster_custom_object(
                GROUP, VERSION, REVIEWS, field_selector=f"spec.reviewer.username={username}",
                _request_timeout=CALL_TIMEOUT,
            )
        return list(listing.get("items") or ())

    def watch_requests(self, resource_version: str, timeout: int = WATCH_TIMEOUT) -> Iterator[tuple[str, dict]]:
        """(event type, object) from ``resource_version`` on, bookmarks included, until the API server
        ends the watch. Raises ``Gone`` when the version is too old to watch from."""
        with self._errors("watch AccessRequests"):
            response = self.custom.list_cluster_custom_object(
                GROUP, VERSION, REQUESTS, watch=True, resource_version=resource_version,
                allow_watch_bookmarks=True, timeout_seconds=timeout,
                _preload_content=False, _request_timeout=(CALL_TIMEOUT, timeout + 30),
            )
            try:
                for line in iter_resp_lines(response):
                    event = json.loads(line)
                    obj = event.get("object") or {}
                    if event.get("type") == "ERROR":
                        code = int(obj.get("code") or 0)
                        raise classify(code, f"watch AccessRequests: {api_message(obj, str(code))}")
                    yield event["type"], obj
            finally:
                response.close()
                response.release_conn()

    def create_review(self, body: Mapping) -> dict:
        with self._errors("create AccessReview"):
            return self.custom.create_cluster_custom_object(
                GROUP, VERSION, REVIEWS, dict(body), _request_timeout=CALL_TIMEOUT
            )
