"""End-to-end fixtures: a real control plane (or an existing cluster), clients per identity.

The control plane is started once per run. With CI=true nothing here is ever
skipped: if the binaries can't be built or the API server can't start, the run
stops with one line saying why. Outside CI, the end-to-end tests are skipped only
when there is no Go toolchain to build the control plane with.

Notifications: the session fixture ``fakes`` starts a fake Slack Web API, a
webhook receiver and a fake PagerDuty Events API (tests/e2e/fakes.py) and
writes a notifications file naming them; the session operator (``gatepass``)
runs with ``--notifications`` pointing at it. Its receivers are ``slack``
(token ``fakes.slack_token``, signing secret ``fakes.slack_signing_secret``,
default channel ``#access-requests``), ``ops-webhook`` (signed with
``fakes.webhook_secret``), ``pagerduty``, and two broken webhooks:
``failing-webhook`` (answers 500) and ``hanging-webhook`` (never answers in
time). Deliveries give up after 3 attempts (200ms, then 400ms apart). Only
policies whose ``spec.notify`` names these receivers send anything.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kubernetes
import pytest
import yaml

from gatepass.devcluster.binaries import BinariesUnavailable, ensure_binaries, have_go
from gatepass.devcluster.controlplane import ControlPlane, ControlPlaneError
from gatepass.devcluster.kubectl import Kubectl

from .fakes import FakePagerDuty, FakeSlack, WebhookReceiver

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class Cluster:
    kubeconfig: Path
    kubectl: Kubectl
    plane: ControlPlane | None  # None when running against an existing cluster

    def api(self, context: str = "admin") -> kubernetes.client.ApiClient:
        return kubernetes.config.new_client_from_config(str(self.kubeconfig), context=context)

    def core(self, context: str = "admin") -> kubernetes.client.CoreV1Api:
        return kubernetes.client.CoreV1Api(self.api(context))

    def custom(self, context: str = "admin") -> kubernetes.client.CustomObjectsApi:
        return kubernetes.client.CustomObjectsApi(self.api(context))


def _fail(message: str) -> None:
    if IN_CI or have_go():
        pytest.exit(f"control plane unavailable: {message}", returncode=1)
    pytest.skip(f"control plane unavailable (no Go toolchain): {message}")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    external = os.environ.get("GATEPASS_KUBECONFIG")
    if external:
        kubectl_bin = Path(os.environ.get("GATEPASS_KUBECTL", "kubectl"))
        yield Cluster(Path(external), Kubectl(kubectl_bin, Path(external)), None)
        return
    try:
        bins = ensure_binaries()
    except BinariesUnavailable as error:
        _fail(str(error))
    plane = ControlPlane(tmp_path_factory.mktemp("controlplane"), bins, log=lambda line: print(line, flush=True))
    try:
        plane.start()
    except ControlPlaneError as error:
        _fail(str(error))
    try:
        yield Cluster(plane.kubeconfig, Kubectl(bins / "kubectl", plane.kubeconfig), plane)
    finally:
        plane.stop()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace, deleted (without waiting) after the test."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = cluster.core()
    core.create_namespace({"metadata": {"name": name, "labels": {"gatepass.dev/test": "true"}}})
    yield name
    core.delete_namespace(name)


@dataclass
class Fakes:
    """The fake receivers and what the session operator's notifications file says about them."""

    slack: FakeSlack
    webhook: WebhookReceiver
    pagerduty: FakePagerDuty
    config_path: Path
    slack_token: str = "xoxb-gatepass-e2e"
    slack_signing_secret: str = "8f742231b10e8888abcd99yyyzzz85a5"
    webhook_secret: str = "gatepass-e2e-webhook-secret"
    pagerduty_routing_key: str = "R0UT1NGKEYE2E"
    expiring_before: str = "4s"


@pytest.fixture(scope="session")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fakes]:
    """The fake Slack, webhook receiver and PagerDuty, and a notifications file for them (see the module doc)."""
    folder = tmp_path_factory.mktemp("notifications")
    slack, webhook, pagerduty = FakeSlack(Fakes.slack_token), WebhookReceiver(Fakes.webhook_secret), \
        FakePagerDuty(Fakes.pagerduty_routing_key)
    (folder / "slack-token").write_text(Fakes.slack_token + "\n")
    (folder / "slack-signing-secret").write_text(Fakes.slack_signing_secret + "\n")
    (folder / "webhook-secret").write_text(Fakes.webhook_secret + "\n")
    (folder / "pagerduty-routing-key").write_text(Fakes.pagerduty_routing_key + "\n")
    config = {
        "expiringBefore": Fakes.expiring_before,
        "delivery": {"attempts": 3, "initialBackoff": "200ms", "maxBackoff": "1s"},  # broken receivers give up soon
        "receivers": [
            {"name": "slack", "slack": {"apiUrl": slack.api_url, "tokenFile": "slack-token",
                                        "signingSecretFile": "slack-signing-secret", "channel": "#access-requests"}},
            {"name": "ops-webhook", "webhook": {"url": f"{webhook.url}/hook", "secretFile": "webhook-secret"}},
            {"name": "failing-webhook", "webhook": {"url": f"{webhook.url}/fail", "secretFile": "webhook-secret",
                                                    "timeout": "2s"}},
            {"name": "hanging-webhook", "webhook": {"url": f"{webhook.url}/hang", "secretFile": "webhook-secret",
                                                    "timeout": "1s"}},
            {"name": "pagerduty", "pagerduty": {"eventsUrl": pagerduty.events_url,
                                                "routingKeyFile": "pagerduty-routing-key"}},
        ],
    }
    path = folder / "notifications.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        yield Fakes(slack, webhook, pagerduty, path)
    finally:
        for server in (slack, webhook, pagerduty):
            server.close()


@dataclass
class Gatepass:
    """Gatepass installed in the cluster, with its operator running as the ``operator`` identity."""

    cluster: Cluster
    operator: object  # devcluster.operator.OperatorProcess

    def kubectl(self, *args: str, user: str = "admin", check: bool = True, input: str | None = None):
        return self.cluster.kubectl.run(*args, context=user, check=check, input=input)


@pytest.fixture(scope="session")
def gatepass(cluster: Cluster, fakes: Fakes, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gatepass]:
    from gatepass.devcluster import install
    from gatepass.devcluster.operator import OperatorProcess

    if cluster.plane is None:
        pytest.skip("installing the operator into an existing cluster is done by its manifests")
    kubectl = cluster.kubectl
    install.install_crds(kubectl)
    install.install_operator_rbac(kubectl)
    install.add_operator_context(cluster.plane, kubectl)
    operator = OperatorProcess(cluster.plane, kubectl, tmp_path_factory.mktemp("operator"),
                               extra_args=(f"--notifications={fakes.config_path}",))
    try:
        operator.start()
    except ControlPlaneError as error:
        _fail(str(error))
    install.install_demo(kubectl)
    try:
        yield Gatepass(cluster, operator)
    finally:
        operator.stop()
        log = operator.log()
        if log:
            print("\n--- operator log (last 60 lines) ---\n" + "\n".join(log.splitlines()[-60:]))


# --- The Web UI's browser (tests/e2e/browser.py): `browser`, `new_context`; `watch(page)` is imported there.
from .browser import browser, new_context  # noqa: E402, F401  (fixtures registered by import)
