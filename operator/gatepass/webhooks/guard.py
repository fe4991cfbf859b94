"""The edge of admission: objects are parsed before anything reads them, and no answer shows Python internals.

Mutating webhooks run before the API server checks an object against its CRD
schema, so they are handed whatever JSON a client sent (``spec: "a string"``).
``admitted`` parses it with the model that generates the CRD and refuses a
malformed object with one line naming the first bad field and what it must be
(``gatepass.api.parsing.one_line``). The handlers call it first, before they
read a field.

``guarded`` is the last resort around every handler: an exception that is not
a refusal (a bug, or the API server failing while the webhook reads from it)
is logged as one line, without a stack, and answered with one line that says
nothing about the code. A user's mistake never gets there; the tests check
that it is not reached by malformed objects. Decorating also demotes kopf's
own log line about a refusal ("Webhook ... failed permanently: <reason>") to
INFO: a refusal is an answer, not an operator error.

``WebhookServer`` is kopf's server; it answers each review of a Gatepass hook
itself (gatepass.webhooks.serving: the hook's one handler, without kopf's
per-review machinery), and has one more refusal: an object nested deeper
than Python can read (the API server passes on thousands of levels) is
refused in one line instead of failing inside kopf with a traceback.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import traceback
from collections.abc import Mapping
from typing import Any, TypeVar

import aiohttp.web
import kopf
from pydantic_core import to_json

from gatepass.api import InvalidObject, parse_object
from gatepass.api.base import CustomResource

from .config import Hook
from . import serving
from .metrics import refused

R = TypeVar("R", bound=CustomResource)

logger = logging.getLogger("gatepass.admission")

#: The refusal of a malformed object: the request cannot be processed as it is.
INVALID = 422
#: The refusal when the webhook itself failed.
INTERNAL = 500
#: What the caller is told when the webhook failed; the operator's log says why.
INTERNAL_REFUSAL = "Gatepass could not check this write because of an internal error (logged by the operator)"
#: The operator's log line when the webhook failed, before the details.
INTERNAL_LOG = "Admission webhook failed unexpectedly"
MAX_LOGGED_DETAIL = 300

_KOPF_OBJECT_LOGGER = "kopf.objects"
#: The refusal of an object nested too deeply to be read.
TOO_DEEP = "the object is nested too deeply to be read; no Gatepass field is more than a few levels deep"
_UID = re.compile(r'"uid"\s*:\s*"([^"\\]{1,128})"')


def admitted(model: type[R], body: Mapping[str, Any], old: Mapping[str, Any] | None = None) -> R | None:
    """``body`` (an object as admission hands it over) as ``model``, or a one-line refusal.

    Parsed strictly, as the API server's schema will check it. The status is left out (a write to the
    object itself never changes it: the API server keeps the stored one), and a name still to be
    generated from ``metadata.generateName`` stands in for the name. An update of a stored object that is
    itself no longer valid (stored under an older schema) is not refused here but left to the API server,
    whose schema check lets what was not changed stay: a request can still be revoked. Then: None.
    """
    try:
        return parse_object(model, _as_written(body), strict=True)
    except InvalidObject as error:
        if old is not None and _invalid(model, old):
            return None
        raise kopf.AdmissionError(str(error), code=INVALID) from None


def _as_written(body: Mapping[str, Any]) -> dict:
    data = {key: value for key, value in body.items() if key != "status"}
    metadata = data.get("metadata")
    if isinstance(metadata, Mapping) and not metadata.get("name") and isinstance(metadata.get("generateName"), str):
        data["metadata"] = {**metadata, "name": metadata["generateName"]}
    return data


def _invalid(model: type[R], body: Mapping[str, Any]) -> bool:
    try:
        parse_object(model, _as_written(body), strict=True)
    except InvalidObject:
        return True
    return False


def guarded(hook: Hook):
    """Wraps an admission handler so that an unexpected exception becomes a one-line refusal and one log line.

    Goes outside ``counted``, which then still counts the answer as an error."""
    _quiet_refusals()

    def decorate(handler):
        @functools.wraps(handler)
        async def run(**kwargs):
            try:
                return await handler(**kwargs)
            except kopf.AdmissionError:
                raise
            except Exception as error:  # noqa: BLE001 - the last resort: every other exception ends here
                logger.error("%s: %s", INTERNAL_LOG, _summary(hook, kwargs, error))
                raise kopf.AdmissionError(INTERNAL_REFUSAL, code=INTERNAL) from None
        return run

    return decorate


def _summary(hook: Hook, kwargs: Mapping[str, Any], error: BaseException) -> str:
    """One line: which hook, operation and object, the exception and where it was raised."""
    body = kwargs.get("body")
    metadata = body.get("metadata") if isinstance(body, Mapping) else None
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    detail = " ".join(f"{type(error).__name__}: {error}".split())[:MAX_LOGGED_DETAIL]
    named = " ".join(str(name)[:253].split()) if name else "(unnamed)"  # not yet validated: any text at all
    return f"{hook.id} {kwargs.get('operation') or ''} {named}: {detail}{where}"


class _RefusalsAtInfo(logging.Filter):
    """kopf logs every refusal at ERROR ("Webhook 'id' failed permanently: ..."); a refusal is an answer."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and isinstance(record.msg, str) \
                and record.msg.startswith("Webhook ") and " failed permanently: " in record.msg \
                and INTERNAL_REFUSAL not in record.msg:
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


def _quiet_refusals() -> None:
    target = logging.getLogger(_KOPF_OBJECT_LOGGER)
    if not any(isinstance(f, _RefusalsAtInfo) for f in target.filters):
        target.addFilter(_RefusalsAtInfo())


class WebhookServer(kopf.WebhookServer):
    """kopf's webhook server. A review for a hook that gatepass.webhooks.registration added is answered by
    gatepass.webhooks.serving (any other as kopf answers it); an admission review too deeply nested for
    Python to read is refused in one line (kopf would fail with a RecursionError and the API server would
    see an HTTP 500)."""

    @staticmethod
    async def _serve(fn, request):
        try:
            found = serving.route(getattr(fn, "keywords", {}).get("registry"), request.match_info.get("id"))
            if found is None:
                return await kopf.WebhookServer._serve(fn, request)
            try:
                review = json.loads(await request.read())
                answered = await serving.answer(*found, review, headers=dict(request.headers),
                                                sslpeer=request.transport.get_extra_info("peercert")
                                                if request.transport else None)
            except (ValueError, AttributeError) as error:  # not an AdmissionReview
                raise aiohttp.web.HTTPBadRequest(reason=" ".join(str(error).split())[:200] or None) from None
            return aiohttp.web.Response(body=to_json(answered), content_type="application/json")
        except RecursionError:
            text = await request.text()
            refused(request.match_info.get("id") or "", "", INVALID)
            logger.info("Refused an admission review for %s nested too deeply to read (%d bytes)",
                           request.match_info.get("id"), len(text))
            return aiohttp.web.json_response(too_deep_response(text))


def too_deep_response(text: str) -> dict:
    """The AdmissionReview refusing the review in ``text`` (read without parsing it: it cannot be parsed)."""
    # The review's own uid comes first: the API server writes request.uid before the object.
    match = _UID.search(text)
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "response": {"uid": match.group(1) if match else "", "allowed": False,
                     "status": {"code": INVALID, "message": TOO_DEEP}},
    }
