"""The operator's log output (gatepass.process.logs): the audit trail's JSON line, in text and in json."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import datetime, timezone

import pytest

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


def test_in_text_an_audit_line_is_the_json_object_it_always_was(output):
    stream = output("text")
    assert json.dumps(granted(), sort_keys=True) == AUDIT_LINE
    [line] = stream.getvalue().splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO gatepass\.audit: (.*)", line).group(1) == AUDIT_LINE
    assert json.loads(line.split(": ", 1)[1])["event"] == "Granted"  # as the end-to-end tests read it


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


def test_configure_writes_to_the_stream_in_the_format_asked_and_leaves_a_configured_root_alone():
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        root.handlers = []
        stream = io.StringIO()
        logs.configure("json", verbose=True, stream=stream)
        assert root.level == logging.DEBUG
        logging.getLogger("gatepass").debug("hello")
        assert json.loads(stream.getvalue())["message"] == "hello"
        logs.configure("text", stream=io.StringIO())  # like logging.basicConfig: already configured
        assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, logs.JsonFormatter)
    finally:
        root.handlers, root.level = saved, level
    with pytest.raises(ValueError):
        logs.formatter("xml")
