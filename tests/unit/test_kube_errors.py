"""One line for a person, whatever shape the API server's answer has."""

import json

import pytest

from gatepass.kube.errors import refusal_line, status_message

LINE = "bob may not review own request"


@pytest.mark.parametrize("text", [
    f'admission webhook "validate-accessreview.gatepass.dev" denied the request: {LINE}',
    f'Error from server: admission webhook "x" denied the request:   {LINE}',
    LINE,
])
def test_the_webhook_prefix_goes(text):
    assert refusal_line(text) == LINE


def test_a_message_is_folded_onto_one_line():
    assert refusal_line("one\n  two\tthree") == "one two three"


@pytest.mark.parametrize("body", [
    json.dumps({"kind": "Status", "message": f'admission webhook "v" denied the request: {LINE}'}),
    json.dumps({"kind": "Status", "message": LINE}).encode(),
    {"message": LINE},
])
def test_the_message_of_a_status_body(body):
    assert status_message(body) == LINE


def test_a_body_without_a_message():
    assert status_message(b"", fallback="the API server answered 500") == "the API server answered 500"
    assert status_message("upstream connect error") == "upstream connect error"
