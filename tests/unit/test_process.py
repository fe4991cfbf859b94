"""The operator process's wiring (gatepass.process.main): which handlers kopf is given, and where from."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import logging
import inspect

import kopf
import kubernetes
import pytest
from pathlib import Path

from gatepass.controller.store import Store
from gatepass.process.args import parse_args
from gatepass.process.cluster import WatchedCluster
from gatepass.process.main import (KOPF_HANDLER_LOGGER, Operator, UsageError, certificates, main,
                                   quiet_handler_successes, retention)
from gatepass.process.runtime import Runtime
from gatepass.webhooks import config
from gatepass.webhooks.cluster import Cluster


def operator(*argv: str) -> Operator:
    client = kubernetes.client.ApiClient(kubernetes.client.Configuration())
    return Operator(parse_args(list(argv)), client, Runtime.create(client))


def test_every_handler_is_in_the_registry_the_process_made():
    registry = operator().registry()
    activities = {h.activity.value: h.id for h in registry._activities.get_all_handlers()}
    assert set(activities) == {"authentication", "startup", "cleanup"}
    watched = sorted(h.selector.any_name for h in registry._watching.get_all_handlers())
    assert watched == sorted(["accesspolicies", "accessrequests", "accessreviews", "rolebindings",
                              "clusterrolebindings", "roles", "clusterroles"])
    webhooks = {h.id: (h.selector.any_name, tuple(h.operations)) for h in registry._webhooks.get_all_handlers()}
    assert webhooks == {hook.id: (hook.resource, hook.operations) for hook in config.HOOKS}


def test_the_managed_bindings_are_watched_by_their_label_only():
    registry = operator().registry()
    labels = {h.selector.any_name: h.labels for h in registry._watching.get_all_handlers()}
    assert labels["rolebindings"] == labels["clusterrolebindings"] == {"gatepass.dev/managed": "true"}
    assert labels["accessrequests"] is None


def test_a_watch_event_reaches_the_store_and_the_queue_it_was_registered_with():
    made = operator()
    registry = made.registry()
    [handler] = [h for h in registry._watching.get_all_handlers() if h.selector.any_name == "accessrequests"]
    body = {"metadata": {"name": "bob-dba", "uid": "u1", "resourceVersion": "3"}, "spec": {}}
    added: list[str] = []
    made.runtime.queue.add = added.append
    asyncio.run(handler.fn(event={"type": "ADDED", "object": body}, body=body, logger=None))
    assert made.runtime.store.requests["bob-dba"]["metadata"]["uid"] == "u1"
    assert added == ["bob-dba"]


def test_admission_reads_policies_from_the_watched_store_and_lists_them_only_while_it_is_empty():
    class Kube:
        listed = 0

        async def list_policies(self):
            self.listed += 1
            return [{"metadata": {"name": "from-the-api"}}]

        async def get_policy(self, name, store=None):
            return store.policies.get(name) if store is not None else None

        get_request = list_reviews = whoami = allowed = may_bind = holds = None
        namespace_names = existing_cluster_roles = role_namespaces = None

    kube, store = Kube(), Store()
    cluster = WatchedCluster(kube, store)

    async def scenario():
        assert await cluster.list_policies() == [{"metadata": {"name": "from-the-api"}}]
        store.put_policy({"metadata": {"name": "watched", "resourceVersion": "1"}}, deleted=False)
        assert [p["metadata"]["name"] for p in await cluster.list_policies()] == ["watched"]
        assert (await cluster.get_policy("watched"))["metadata"]["name"] == "watched"

    asyncio.run(scenario())
    assert kube.listed == 1


def test_the_process_s_cluster_has_every_method_of_the_webhooks_protocol():
    client = kubernetes.client.ApiClient(kubernetes.client.Configuration())
    cluster = Runtime.create(client).cluster()
    wanted = {name for name, value in vars(Cluster).items() if inspect.iscoroutinefunction(value)}
    for name in wanted:
        method = getattr(cluster, name)
        assert inspect.iscoroutinefunction(method), name
        assert list(inspect.signature(method).parameters) == \
            [p for p in inspect.signature(getattr(Cluster, name)).parameters if p != "self"], name


def test_a_bad_flag_is_a_usage_error_naming_it():
    with pytest.raises(UsageError, match=r'^--retention: invalid duration "-1h": must not be negative$'):
        retention(parse_args(["--retention=-1h"]))
    assert retention(parse_args(["--retention=0"])) is None
    args = parse_args(["--webhook-secret=gatepass-webhook-tls"])
    with pytest.raises(UsageError, match="needs --webhook-service or --webhook-host"):
        certificates(args, None)
    assert certificates(parse_args(["--webhook-cert=c", "--webhook-key=k", "--webhook-secret=s"]), None) is None


def test_an_unusable_kubeconfig_stops_the_operator_with_one_line(tmp_path, caplog, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with caplog.at_level(logging.ERROR):
        assert main(["--kubeconfig", str(tmp_path / "missing"), "--http-port=0"]) == 2
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage().startswith("cannot connect: ") and "\n" not in record.getMessage()
    assert record.exc_info is None


def test_readiness_waits_for_the_start_up_and_liveness_for_the_background_work():
    made = operator("--no-leader-elect")

    async def scenario():
        assert await made.ready() == "starting"
        made.started.set()
        assert await made.ready() is None  # no webhook server to wait for
        made.tasks["leadership"] = asyncio.create_task(asyncio.sleep(0))
        assert made.alive() is None
        await made.tasks["leadership"]
        assert made.alive() == "leadership stopped"

    asyncio.run(scenario())


def test_log_format_is_text_unless_asked():
    assert parse_args([]).log_format == "text"
    assert parse_args(["--log-format", "json"]).log_format == "json"
    with pytest.raises(SystemExit):
        parse_args(["--log-format", "xml"])


def test_kopf_s_default_registry_gets_nothing_from_the_process():
    before = len(kopf.get_default_registry()._watching.get_all_handlers())
    operator().registry()
    assert len(kopf.get_default_registry()._watching.get_all_handlers()) == before == 0


def test_log_level_is_info_unless_asked_and_verbose_is_debug():
    assert parse_args([]).log_level == "info"
    assert parse_args(["--log-level", "warning"]).log_level == "warning"
    assert parse_args(["--verbose"]).log_level == "debug"
    with pytest.raises(SystemExit):
        parse_args(["--log-level", "loud"])


def test_metrics_are_served_without_created_samples():
    from aiohttp import ClientSession
    from prometheus_client.parser import text_string_to_metric_families

    from gatepass.process import endpoints
    from gatepass.process.leadership import LEADER  # gatepass_leader: Operator.create imports it

    LEADER.set(0)

    async def scrape() -> str:
        async def ready():
            return None

        runner = await endpoints.serve("127.0.0.1", 0, alive=lambda: None, ready=ready)
        try:
            host, port = runner.addresses[0][:2]
            async with ClientSession() as session, session.get(f"http://{host}:{port}/metrics") as response:
                assert response.status == 200
                return await response.text()
        finally:
            await runner.cleanup()

    text = asyncio.run(scrape())
    names = {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}
    assert {"gatepass_reconciles_total", "gatepass_errors_total", "gatepass_leader",
            "gatepass_reconcile_duration_seconds_count"} <= names
    assert not [name for name in names if name.endswith("_created")]
    assert "_created" not in text


@pytest.mark.parametrize("level, successes", [("info", False), ("warning", False), ("debug", True)])
def test_kopf_logs_each_handlers_failure_but_its_successes_only_at_debug(level, successes):
    kopf_logger = logging.getLogger(KOPF_HANDLER_LOGGER)
    before = kopf_logger.level
    try:
        quiet_handler_successes(level)
        assert (kopf_logger.level == logging.WARNING) is not successes  # "Handler 'request_event' succeeded."
        assert kopf_logger.isEnabledFor(logging.ERROR)  # "... failed permanently: ..." (a refusal: then INFO)
    finally:
        kopf_logger.setLevel(before)


def test_help_imports_neither_kopf_nor_the_kubernetes_client():
    code = ("import sys, contextlib, io\n"
            "from gatepass.process.main import main\n"
            "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'kopf', 'kubernetes', 'aiohttp', 'pydantic', "
            "'celpy', 'slack_sdk', 'prometheus_client', 'pykube'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "operator")})
    assert result.stdout.strip() == "[]"


def test_an_admission_refusal_is_still_logged_at_info_with_kopfs_successes_left_out():
    from gatepass.webhooks import guard

    kopf_logger = logging.getLogger(KOPF_HANDLER_LOGGER)
    before, records = kopf_logger.level, []
    handler = logging.Handler()
    handler.emit = records.append
    kopf_logger.addHandler(handler)
    try:
        quiet_handler_successes("info")
        guard._quiet_refusals()
        kopf_logger.info("Handler 'request_event' succeeded.")
        kopf_logger.error("Webhook 'validate' failed permanently: no policy allows it")
    finally:
        kopf_logger.removeHandler(handler)
        kopf_logger.setLevel(before)
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("INFO", "Webhook 'validate' failed permanently: no policy allows it")]
