"""User errors are one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json

import pytest

from gatepass.cli.errors import CliError, api_error, status_message
from gatepass.cli.main import main

STATUS = json.dumps({"kind": "Status", "status": "Failure", "code": 403, "reason": "Forbidden",
                     "message": 'admission webhook "validate-request.gatepass.dev" denied the request: carol may '
                                'not request role "dba": no AccessPolicy offers it to carol or groups [contractors]'})


def test_the_admission_webhooks_name_is_left_out():
    assert status_message(STATUS) == ('carol may not request role "dba": no AccessPolicy offers it to carol '
                                      "or groups [contractors]")


def test_a_body_that_is_not_a_status_is_shown_as_it_is():
    assert status_message(b"upstream connect error") == "upstream connect error"
    assert status_message("", fallback="Forbidden") == "Forbidden"


def test_api_errors():
    assert api_error(404, "{}", not_found='AccessRequest "x" not found').message == 'AccessRequest "x" not found'
    assert "log in again" in api_error(401, "").message
    assert api_error(403, STATUS).message.startswith("carol may not request")
    assert api_error(500, "", "Internal Server Error").message == "Internal Server Error"


def test_messages_are_one_line():
    assert CliError("a\n  b\tc").message == "a b c"


def kubeconfig(tmp_path, server: str) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "bob",
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "bob", "user": {"token": "t"}}],
        "contexts": [{"name": "bob", "context": {"cluster": "c", "user": "bob"}}],
    }))
    return str(path)


@pytest.mark.parametrize("argv, message", [
    (["--kubeconfig", "/nonexistent/kubeconfig", "request", "ls"],
     "error: kubeconfig /nonexistent/kubeconfig not found; pass --kubeconfig or set KUBECONFIG"),
    (["request", "ls", "--context", "alice"], 'error: context "alice" not found in'),
    (["request", "ls"], "error: cannot reach the cluster at https://127.0.0.1:1: connection refused"),
])
def test_user_errors_are_one_line_and_exit_1(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setenv("KUBECONFIG", kubeconfig(tmp_path, "https://127.0.0.1:1"))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_bad_flag_value_exits_2_with_the_usage(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", kubeconfig(tmp_path, "https://127.0.0.1:1"))
    with pytest.raises(SystemExit) as exited:
        main(["request", "create", "--roles", "dba", "--duration", "1d", "--name", "x"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: kubectl access request create")
    assert err.splitlines()[-1] == ('kubectl access request create: error: argument --duration: invalid duration '
                                    '"1d": unknown unit "d" (there is no day unit, write 24h)')


def test_a_kubeconfig_that_is_not_yaml(tmp_path, capsys):
    path = tmp_path / "broken"
    path.write_text("clusters: [\n")
    assert main(["--kubeconfig", str(path), "request", "ls"]) == 1
    assert capsys.readouterr().err == f"error: cannot read kubeconfig {path}: not valid YAML (line 2)\n"
