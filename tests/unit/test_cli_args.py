"""The command line of `kubectl access`: verbs, flags anywhere, exec's command, help."""

from __future__ import annotations

import pytest

from gatepass.cli.args import build_parser, parse


def test_connection_flags_work_before_and_after_the_verb():
    assert parse(["--context", "bob", "request", "ls"]).context == "bob"
    assert parse(["request", "--context", "bob", "ls"]).context == "bob"
    late = parse(["request", "ls", "--context", "bob", "--kubeconfig", "/k"])
    assert (late.context, late.kubeconfig) == ("bob", "/k")
    first = parse(["--kubeconfig", "/k", "review", "--approve", "x", "--context", "ivan"])
    assert (first.context, first.kubeconfig) == ("ivan", "/k")
    assert (parse(["request", "ls"]).context, parse(["request", "ls"]).kubeconfig) == (None, None)


def test_create_reads_comma_lists():
    args = parse(["request", "create", "--roles=dba,view", "--namespaces", "payments, billing",
                  "--reviewers=alice,ivan", "--reason=ticket #123", "--duration=1h", "--nowait"])
    assert args.roles == ["dba", "view"] and args.namespaces == ["payments", "billing"]
    assert args.reviewers == ["alice", "ivan"] and args.reason == "ticket #123"
    assert args.duration == "1h" and args.nowait and args.start is None


def test_create_needs_roles(capsys):
    with pytest.raises(SystemExit) as exited:
        parse(["request", "create", "--reason", "x"])
    assert exited.value.code == 2
    assert "--roles" in capsys.readouterr().err


def test_ls_flags_and_alias():
    args = parse(["request", "list", "--reviewable", "-o", "yaml"])
    assert (args.action, args.reviewable, args.mine, args.output) == ("ls", True, False, "yaml")
    with pytest.raises(SystemExit):
        parse(["request", "ls", "--mine", "--reviewable"])
    for fmt in ("wide", "name", "json", "table"):
        assert parse(["request", "ls", "-o", fmt]).output == fmt
    assert parse(["request", "ls"]).output == "table" and parse(["request", "show", "x"]).output == "table"


def test_output_works_before_and_after_the_verb():
    assert parse(["-o", "wide", "request", "ls"]).output == "wide"
    assert parse(["request", "-o", "name", "ls"]).output == "name"
    assert parse(["request", "show", "x", "--output=json"]).output == "json"
    assert parse(["--context", "alice", "-o", "yaml", "request", "show", "x"]).context == "alice"


@pytest.mark.parametrize("argv, complaint", [
    (["request", "ls", "-o", "jsonpath"], "argument -o/--output: invalid choice: 'jsonpath'"),
    (["-o", "wide", "review", "--approve", "x"], "-o/--output applies to request ls and request show only"),
    (["request", "create", "--roles", "dba", "--duration", "1d"], 'argument --duration: invalid duration "1d"'),
    (["request", "create", "--roles", "dba", "--duration", "0s"], "argument --duration:"),
    (["request", "create", "--roles", "dba", "--start", "tomorrow"], 'argument --start: invalid time "tomorrow"'),
    (["request", "create", "--roles", ","], "argument --roles: name at least one"),
    (["exec", "--duration", "1x", "--", "true"], "argument --duration:"),
    (["ui", "--port", "http"], 'argument --port: invalid port "http"'),
    (["ui", "--port", "70000"], "argument --port: invalid port 70000"),
    (["ui", "--address", "0.0.0.0"], "--address applies to --in-cluster only"),
    (["ui", "--allowed-host", "ui.example.com"], "--allowed-host applies to --in-cluster only"),
    (["ui", "--server", "https://10.0.0.1"], "--server applies to --in-cluster only"),
    (["ui", "--in-cluster"], "--in-cluster needs --allowed-host"),
    (["ui", "--in-cluster", "--allowed-host", "h", "--context", "bob"], "--in-cluster uses no kubeconfig"),
    (["-o", "json", "ui"], "-o/--output applies to request ls and request show only"),
])
def test_a_bad_flag_value_is_a_usage_error_exit_2(capsys, argv, complaint):
    with pytest.raises(SystemExit) as exited:
        parse(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: kubectl access") and complaint in err


def test_durations_and_start_times_are_normalised_while_parsing():
    args = parse(["request", "create", "--roles", "dba", "--duration", "90m", "--start", "2026-01-02T16:04:05+01:00"])
    assert (args.duration, args.start) == ("1h30m", "2026-01-02T15:04:05Z")


def test_review_needs_exactly_one_decision():
    assert parse(["review", "--deny", "--reason", "no", "r1"]).decision == "Deny"
    assert parse(["review", "--approve", "r1"]).decision == "Approve"
    for argv in (["review", "r1"], ["review", "--approve", "--deny", "r1"]):
        with pytest.raises(SystemExit):
            parse(argv)


def test_exec_takes_the_command_after_double_dash_with_its_own_flags():
    args = parse(["exec", "--reason", "ticket #9", "--context", "bob", "--",
                  "kubectl", "--context", "bob", "get", "secrets", "-n", "payments"])
    assert args.command == ["kubectl", "--context", "bob", "get", "secrets", "-n", "payments"]
    assert args.reason == "ticket #9" and args.context == "bob"
    assert parse(["exec", "kubectl", "get", "pods"]).command == ["kubectl", "get", "pods"]
    assert parse(["exec", "--role", "dba", "--", "true"]).role == "dba"


def test_review_help_says_what_approve_deny_and_name_do(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["review", "--help"])
    text = capsys.readouterr().out.split("\n\n", 1)[1]  # after the usage lines
    for flag, words in (("--approve", "approve the request"), ("--deny", "deny the request"),
                        ("NAME", "the AccessRequest to review")):
        line = next(line for line in text.splitlines() if line.strip().startswith(flag + " "))
        assert words in line, line


def test_help_lists_every_verb(capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: kubectl access")
    for verb in ("request create", "request ls", "request show", "request drop", "review", "exec", "ui"):
        assert f"  {verb} " in text, verb


def test_ui_serves_locally_on_any_free_port_and_opens_the_browser_by_default():
    args = parse(["ui", "--context", "bob"])
    assert (args.verb, args.context, args.port, args.address, args.browser, args.in_cluster) == \
        ("ui", "bob", 0, "127.0.0.1", True, False)
    assert (parse(["ui", "--port", "8001", "--no-browser"]).port, parse(["ui", "--no-browser"]).browser) == (8001, False)


def test_ui_in_cluster_listens_on_every_address_port_8080_for_the_allowed_hosts():
    args = parse(["ui", "--in-cluster", "--allowed-host", "ui.example.com", "--allowed-host", "ui.internal:8443"])
    assert (args.address, args.port, args.allowed_host) == ("0.0.0.0", 8080, ["ui.example.com", "ui.internal:8443"])
    assert (args.ca_file, args.server) == ("/etc/gatepass-ui/ca.crt", "")
    custom = parse(["ui", "--in-cluster", "--allowed-host", "h", "--address", "10.0.0.5", "--port", "9000",
                    "--ca-file", "/ca.pem", "--server", "https://10.96.0.1:443"])
    assert (custom.address, custom.port, custom.ca_file, custom.server) == \
        ("10.0.0.5", 9000, "/ca.pem", "https://10.96.0.1:443")
