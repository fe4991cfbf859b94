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
    with pytest.raises(SystemExit):
        parse(["request", "ls", "-o", "wide"])


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


def test_help_lists_every_verb(capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: kubectl access")
    for verb in ("request create", "request ls", "request show", "request drop", "review", "exec"):
        assert f"  {verb} " in text, verb
