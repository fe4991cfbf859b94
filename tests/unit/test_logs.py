"""The operator's log output (gatepass.process.logs): the audit trail's JSON line, in text and in json; the
level; no access log; warnings and library records through the same handler."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import warnings
from datetime import datetime, timezone

import pytest
from kubernetes.client import ApiException

from gatepass.controller import audit
from gatepass.core.lifecycle import State
from gatepass.process import logs

NOW = datetime(2026, 3, 1, 12, 0, 5, tzinfo=timezone.utc)
REQUEST = {
    "metadata": {"name": "bob-dba", "uid": "u-1"},
    "spec": {"requester": {"username": "bob"}, "submitter": {"username": "ci"}, "roles": ["dba"],
             "namespaces": ["payments"]},
}
# The audit line as the operator has always written it: these keys, sorted, in one JSON object.
AUDIT_LINE = ('{"event": "Granted", "message": "Granted dba in payments to bob", "namespaces": ["payments"], '
              '"request": "bob-dba", "requester": "bob", "roles": ["dba"], "state": "Approved", '
              '"submitter": "ci", "time": "2026-03-01T12:00:05Z", "uid": "u-1"}')


@pytest.fixture
def output():
    """Logs through a handler with the formatter named; returns what was written."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def use(name: str) -> io.StringIO:
        handler.setFormatter(logs.formatter(name))
        return stream

    yield use
    root.removeHandler(handler)
    root.setLevel(level)


def granted() -> dict:
    return audit.log_line(REQUEST, "Granted", "Granted dba in payments to bob", NOW, state=State.Approved.value, reason="")


def test_in_text_an_audit_line_is_the_bare_json_object_the_json_format_writes(output):
    stream = output("text")
    assert json.dumps(granted(), sort_keys=True) == AUDIT_LINE
    [line] = stream.getvalue().splitlines()
    assert json.loads(line) == {**json.loads(AUDIT_LINE), "level": "INFO", "logger": "gatepass.audit"}
    assert logs.audit_records(stream.getvalue()) == [json.loads(line)]


def test_the_audit_line_is_the_same_in_both_formats(output):
    stream = output("text")
    granted()
    stream = output("json")
    granted()
    text, as_json = stream.getvalue().splitlines()
    assert text == as_json


def test_audit_records_are_read_from_a_log_in_either_format_and_nothing_else_is():
    log = "\n".join([
        "2026-03-01 12:00:05,000 INFO gatepass.queue: Caught up",
        '{"level": "INFO", "logger": "gatepass.queue", "message": "Caught up"}',
        '{"event": "Granted", "level": "INFO", "logger": "gatepass.audit", "request": "bob-dba"}',
        '{"not json',
        "[1, 2]",
    ])
    assert logs.audit_records(log) == [{"event": "Granted", "level": "INFO", "logger": "gatepass.audit",
                                        "request": "bob-dba"}]


def test_in_text_other_records_are_the_human_line(output):
    stream = output("text")
    logging.getLogger("gatepass.reconciler").info("Applied %s %s for %s", "RoleBinding", "payments/gp-1", "bob")
    assert stream.getvalue().rstrip().endswith(" INFO gatepass.reconciler: Applied RoleBinding payments/gp-1 for bob")


def test_in_json_an_audit_line_keeps_its_fields_and_says_where_it_came_from(output):
    stream = output("json")
    granted()
    record = json.loads(stream.getvalue())
    assert record == {**json.loads(AUDIT_LINE), "level": "INFO", "logger": "gatepass.audit"}


def test_in_json_every_record_is_one_object_on_one_line(output):
    stream = output("json")
    log = logging.getLogger("gatepass.queue")
    log.warning("Reconciling %s failed", "bob-dba")
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        log.exception("It broke")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "WARNING" and first["logger"] == "gatepass.queue"
    assert first["message"] == "Reconciling bob-dba failed"
    assert datetime.fromisoformat(first["time"]).tzinfo is not None
    assert second["message"] == "It broke" and "RuntimeError: boom" in second["exception"]


@pytest.fixture
def bare_root():
    """Takes the handlers off the root logger, as at the operator's start (inside the test: pytest adds its
    own for each phase); puts everything back afterwards."""
    root, access = logging.getLogger(), logging.getLogger("aiohttp.access")
    saved, level, access_level = root.handlers[:], root.level, access.level
    hooks = sys.excepthook, threading.excepthook

    def bare() -> logging.Logger:
        root.handlers = []
        return root

    yield bare
    root.handlers, root.level = saved, level
    access.setLevel(access_level)
    logging.captureWarnings(False)
    sys.excepthook, threading.excepthook = hooks


def test_configure_writes_to_the_stream_in_the_format_asked_and_leaves_a_configured_root_alone(bare_root):
    root = bare_root()
    stream = io.StringIO()
    logs.configure("json", "debug", stream=stream)
    assert root.level == logging.DEBUG
    logging.getLogger("gatepass").debug("hello")
    assert json.loads(stream.getvalue())["message"] == "hello"
    logs.configure("text", stream=io.StringIO())  # like logging.basicConfig: already configured
    assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, logs.JsonFormatter)
    with pytest.raises(ValueError):
        logs.formatter("xml")
    with pytest.raises(ValueError):
        logs.configure("text", "loud")


@pytest.mark.parametrize("level", logs.LEVELS)
def test_the_level_leaves_out_what_is_less_severe(bare_root, level):
    bare_root()
    stream = io.StringIO()
    logs.configure("json", level, stream=stream)
    log = logging.getLogger("gatepass.queue")
    for name in logs.LEVELS:
        log.log(logging.getLevelName(name.upper()), "at %s", name)
    written = [json.loads(line)["message"] for line in stream.getvalue().splitlines()]
    assert written == [f"at {name}" for name in logs.LEVELS[logs.LEVELS.index(level):]]


def test_there_is_no_access_log_unless_debug(bare_root):
    bare_root()
    stream = io.StringIO()
    logs.configure("text", "info", stream=stream)
    logging.getLogger("aiohttp.access").info('127.0.0.1 "POST /validate-accessrequest HTTP/1.1" 200')
    assert stream.getvalue() == ""
    bare_root()
    logs.configure("text", "debug", stream=stream)
    logging.getLogger("aiohttp.access").info('127.0.0.1 "POST /validate-accessrequest HTTP/1.1" 200')
    assert "POST /validate-accessrequest" in stream.getvalue()


def test_in_json_libraries_and_warnings_are_one_object_per_line_too(bare_root):
    bare_root()
    stream = io.StringIO()
    logs.configure("json", "info", stream=stream)
    logging.getLogger("kopf.objects").error("Webhook 'x' failed permanently: no\nsecond line")
    logging.getLogger("aiohttp.server").warning("Error handling request")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("deprecated thing", DeprecationWarning)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["logger"] for r in records] == ["kopf.objects", "aiohttp.server", "py.warnings"]
    assert records[0]["message"] == "Webhook 'x' failed permanently: no\nsecond line"
    assert "deprecated thing" in records[2]["message"]


def test_an_api_error_logged_by_any_part_is_one_line(bare_root):
    bare_root()
    stream = io.StringIO()
    logs.configure("text", "info", stream=stream)
    error = ApiException(status=503, reason="Service Unavailable")
    error.body = json.dumps({"kind": "Status", "message": "etcdserver: leader changed"})
    error.headers = {f"X-Header-{i}": "value" for i in range(40)}
    assert "\n" in str(error)  # the client's own text
    logging.getLogger("gatepass.certificates").warning("Could not check the webhook certificate: %s", error)
    [line] = stream.getvalue().splitlines()
    assert line.endswith("Could not check the webhook certificate: 503 Service Unavailable: etcdserver: leader changed")


def test_in_json_an_uncaught_exception_is_one_object_too(bare_root):
    bare_root()
    stream = io.StringIO()
    logs.configure("json", "info", stream=stream)

    def crash():
        raise RuntimeError("lost")

    thread = threading.Thread(target=crash, name="worker")
    thread.start()
    thread.join()
    try:
        raise ValueError("at the top")
    except ValueError:
        sys.excepthook(*sys.exc_info())
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["level"] == "CRITICAL" and first["message"] == "Uncaught exception in thread worker: lost"
    assert "RuntimeError: lost" in first["exception"]
    assert second["message"] == "Uncaught exception: at the top"


def test_the_audit_line_of_a_resource_request_names_each_rule():
    request = {**REQUEST, "spec": {**REQUEST["spec"], "roles": [],
                                   "resources": [{"resource": "pods", "subresource": "log", "namespace": "payments",
                                                  "names": ["db-1"], "verbs": ["get"]}]}}
    record = audit.fields(request, "Granted", "Granted get pods/log db-1 in payments to bob", NOW)
    assert record["resources"] == ["get pods/log db-1 in payments"]
    assert "resources" not in audit.fields(REQUEST, "Granted", "Granted dba in payments to bob", NOW)
