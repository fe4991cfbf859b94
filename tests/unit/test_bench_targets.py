"""The targets benchmark's pure parts: phase attribution of py-spy stacks, API call counting,
start-up log reading, and the verdicts under the issue's stable keys."""

from __future__ import annotations

import os
import time
from collections import Counter

from bench import apicalls, phases, startup, targets
from gatepass.process.main import STARTING
from gatepass.process.runtime import ARMED

GP = "/work/x/operator/gatepass"
SITE = "/venv/lib/python3.11/site-packages"


def stack(*frames: tuple[str, str], count: int = 1) -> str:
    return ";".join(f"{fn} ({path}:1)" for fn, path in frames) + f" {count}"


KOPF = ("worker", f"{SITE}/kopf/_core/reactor/queueing.py")
THREAD = ("_worker", "/py/lib/python3.11/concurrent/futures/thread.py")
CLIENT = ("request", f"{SITE}/kubernetes/client/rest.py")
JSON = ("JSONDecoder.decode", "/py/lib/python3.11/json/decoder.py")


def test_gatepass_frames_decide_the_phase_before_the_library_that_runs():
    assert phases.phase_of(phases.parse(stack(KOPF, ("validate", f"{GP}/webhooks/requests.py"), JSON))[0][0]) \
        == "admission"
    assert phases.phase_of(phases.parse(stack(THREAD, ("Kube._create_event", f"{GP}/controller/kubeio.py"),
                                              CLIENT))[0][0]) == "events"
    assert phases.phase_of(phases.parse(stack(THREAD, ("Kube.patch_status_of", f"{GP}/controller/kubeio.py"),
                                              CLIENT))[0][0]) == "status"
    assert phases.phase_of(phases.parse(stack(THREAD, ("Kube._apply_binding", f"{GP}/controller/kubeio.py"),
                                              CLIENT))[0][0]) == "reconcile"
    assert phases.phase_of(phases.parse(stack(("send", f"{GP}/notify/delivery.py")))[0][0]) == "notifications"
    assert phases.phase_of(phases.parse(stack(KOPF, JSON))[0][0]) == "kopf (watches, machinery)"
    assert phases.phase_of(phases.parse(stack(THREAD, CLIENT))[0][0]) == "kubernetes client"
    assert phases.phase_of(phases.parse(stack(("poll", "/somewhere/else.py")))[0][0]) == "other"


def test_the_report_scales_samples_to_the_measured_cpu_and_ranks_functions():
    text = "\n".join([
        stack(KOPF, ("validate", f"{GP}/webhooks/requests.py"), JSON, count=30),
        stack(THREAD, ("Kube._create_event", f"{GP}/controller/kubeio.py"), CLIENT, count=50),
        stack(KOPF, count=20),
        "garbage line",
    ])
    report = phases.report(text, cpu_seconds=2.0, grants=100)  # 20 ms per grant
    assert report["samples"] == 100
    assert abs(sum(row["ms_per_grant"] for row in report["phases"].values()) - 20.0) < 1e-9
    assert report["phases"]["events"]["ms_per_grant"] == 10.0
    assert report["phases"]["admission"]["share"] == 0.3
    assert report["top_self"][0]["function"] == "kubernetes/client/rest.py:request"
    inclusive = {row["function"]: row["samples"] for row in report["top_inclusive_gatepass"]}
    assert inclusive == {"gatepass/controller/kubeio.py:Kube._create_event": 50,
                         "gatepass/webhooks/requests.py:validate": 30}


METRICS_BEFORE = """# HELP apiserver_request_total x
apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="events",scope="namespace",subresource="",verb="POST"} 10
apiserver_request_total{code="200",component="apiserver",group="gatepass.dev",resource="accessrequests",scope="cluster",subresource="status",verb="PATCH"} 5
apiserver_admission_webhook_admission_duration_seconds_count{name="requests.gatepass.dev",operation="CREATE",rejected="false",type="validating"} 3
"""
METRICS_AFTER = """apiserver_request_total{code="201",component="apiserver",dry_run="",group="",resource="events",scope="namespace",subresource="",verb="POST"} 40
apiserver_request_total{code="409",component="apiserver",dry_run="",group="",resource="events",scope="namespace",subresource="",verb="POST"} 2
apiserver_request_total{code="200",component="apiserver",group="gatepass.dev",resource="accessrequests",scope="cluster",subresource="status",verb="PATCH"} 25
apiserver_request_total{code="201",component="apiserver",group="gatepass.dev",resource="accessrequests",scope="cluster",subresource="",verb="POST"} 10
apiserver_admission_webhook_admission_duration_seconds_count{name="requests.gatepass.dev",operation="CREATE",rejected="false",type="validating"} 13
"""


def test_api_calls_per_grant_are_the_counters_difference_less_the_benchmarks_own():
    ours = Counter({apicalls.bench_key("POST", "/apis/gatepass.dev/v1alpha1/accessrequests"): 10})
    diff = apicalls.difference(apicalls.request_counts(METRICS_AFTER), apicalls.request_counts(METRICS_BEFORE), ours)
    rows = {(r["verb"], r["resource"]): r["per_grant"] for r in apicalls.per_grant(diff, 10)}
    assert rows == {("POST", "events"): 3.2, ("PATCH", "accessrequests/status"): 2.0}
    hooks = apicalls.difference(apicalls.webhook_counts(METRICS_AFTER), apicalls.webhook_counts(METRICS_BEFORE))
    assert hooks == {("requests.gatepass.dev", "CREATE"): 10}


def test_the_benchmarks_own_calls_are_keyed_as_the_api_server_counts_them():
    key = apicalls.bench_key
    assert key("POST", "/apis/gatepass.dev/v1alpha1/accessrequests") == ("POST", "accessrequests")
    assert key("PATCH", "/apis/gatepass.dev/v1alpha1/accessrequests/a") == ("PATCH", "accessrequests")
    assert key("GET", "/apis/gatepass.dev/v1alpha1/accessrequests?labelSelector=x") == ("LIST", "accessrequests")
    assert key("GET", "/apis/gatepass.dev/v1alpha1/accessrequests/a") == ("GET", "accessrequests")
    assert key("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews") == ("POST", "subjectaccessreviews")
    assert key("DELETE", "/apis/rbac.authorization.k8s.io/v1/namespaces/payments/rolebindings/b") \
        == ("DELETE", "rolebindings")
    assert key("GET", "/api/v1/namespaces/payments/pods/p/log") == ("GET", "pods/log")


LOG = """some banner without a stamp
2026-12-01 17:00:01,250 INFO gatepass: Started.
2026-12-01 17:00:04,750 INFO gatepass.controller.queue: Caught up after start-up: worked 12 items, 10 deadlines armed, in 2.10s
"""


def test_start_up_times_are_read_from_the_log_stamps():
    first = startup.first_line_at(LOG)
    caught = startup.caught_up(LOG)
    assert caught["worked"] == 12 and caught["deadlines_armed"] == 10 and caught["caught_up_s"] == 2.1
    assert abs(caught["at"] - first - 3.5) < 1e-6


RESTARTED = """2026-12-01 18:45:52,185 INFO gatepass.runtime: Stopped reconciling
2026-12-01 18:45:57,195 INFO gatepass: Stopped.
2026-12-01 18:45:58,070 INFO gatepass: Starting gatepass-operator (pid 20464)
2026-12-01 18:46:04,021 INFO gatepass.runtime: %s
2026-12-01 18:46:04,610 INFO gatepass.queue: Caught up after start-up: worked 3102 items, 3100 deadlines armed, in 0.58s
""" % (ARMED % (3100, 2, 0.034))


def test_the_re_arm_is_read_from_the_line_the_operator_writes_when_every_deadline_is_armed():
    found = startup.armed(RESTARTED)
    assert {k: v for k, v in found.items() if k != "at"} == {"deadlines_armed": 3100, "already_due": 2,
                                                             "arming_s": 0.034}
    assert abs(found["at"] - startup.stamp(RESTARTED.splitlines()[3])) < 1e-9
    assert startup.caught_up(RESTARTED)["at"] > found["at"]


def test_a_restarted_operators_lines_are_its_own_not_the_old_ones_last():
    log = STARTING % 1 + "\n" + RESTARTED
    own = startup.own_lines(log, 20464)
    assert own.startswith("2026-12-01 18:45:58,070 INFO gatepass: " + STARTING % 20464)
    assert startup.first_line_at(own) == startup.stamp(RESTARTED.splitlines()[2])
    assert startup.first_line_at(log) < startup.first_line_at(own), "the old process's last lines come first"
    assert startup.own_lines(log, 4) == "", "not started yet"


def test_a_process_start_time_is_the_kernels():
    started = startup.process_started_at(os.getpid())
    with open("/proc/stat", encoding="ascii") as machine:
        boot = next(int(line.split()[1]) for line in machine if line.startswith("btime "))
    assert started is not None and boot <= started <= time.time()
    assert startup.process_started_at(2 ** 30) is None  # no such process


def test_import_time_reports_the_total_and_the_top_level_packages():
    text = """import time: self [us] | cumulative | imported package
import time:       100 |        100 |     _io
import time:       500 |        600 |   encodings
import time:      2000 |       3000 |     kubernetes.client
import time:       300 |       4000 |   kubernetes
import time:        50 |       4050 | gatepass.__main__
"""
    found = startup.parse_importtime(text)
    assert found["total_s"] == 4050 / 1e6
    assert found["top_level"][0] == {"module": "gatepass.__main__", "cumulative_ms": 4.05}
    assert found["top_self"][0]["module"] == "kubernetes.client"


def test_every_target_has_a_verdict_under_its_stable_key():
    figures = {"cpu_ms_per_grant": 40.0, "rss_mib": {"live_1000": 100.0},
               "flood": {"expiry_overshoot": {"p99": 0.4}}, "throughput": {"approvals_per_s": 50.0},
               "restart": {"rearm_s": 47.0, "late_over_1s": 0}}
    rows = targets.verdicts(figures)
    assert set(rows) >= {"cpu_ms_per_grant", "rss_mib.live_1000", "rss_mib.live_10000_retained_100000",
                         "flood.expiry_overshoot.p99", "restart.rearm_s", "throughput.approvals_per_s"}
    assert rows["cpu_ms_per_grant"]["verdict"] == "missed"
    assert rows["rss_mib.live_1000"]["verdict"] == "met"
    assert rows["flood.expiry_overshoot.p99"]["verdict"] == "met"
    assert rows["throughput.approvals_per_s"]["verdict"] == "missed"
    assert rows["restart.late_over_1s"]["verdict"] == "met"
    assert rows["rss_mib.live_10000_retained_100000"]["verdict"] == "not measured"
    table = targets.target_table(rows)
    assert "missed" in table and "not measured" in table


def test_the_memory_slope_is_a_least_squares_fit():
    assert targets.slope_kib([(0, 100.0), (1024, 101.0), (2048, 102.0)]) == 1.0
    assert targets.slope_kib([(0, 100.0)]) is None


def test_the_tracemalloc_site_writes_the_largest_allocation_sites_on_sigusr2(tmp_path):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import bench

    out = tmp_path / "trace.json"
    site = Path(bench.__file__).with_name("tracemalloc_site")
    env = {**os.environ, "PYTHONPATH": str(site), "GATEPASS_BENCH_TRACEMALLOC": str(out)}
    child = subprocess.Popen([sys.executable, "-c", "import time\nkept = [bytes(1000) for _ in range(2000)]\n"
                              "print('ready', flush=True)\ntime.sleep(30)"], env=env, stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"ready"
        child.send_signal(signal.SIGUSR2)
        for _ in range(100):
            if out.exists() and out.stat().st_size:
                break
            time.sleep(0.05)
        found = json.loads(out.read_text())
        assert found["traced_mib"] >= 1.9 and found["lines"][0]["kib"] >= 1900
    finally:
        child.kill()
        child.wait()


def test_the_profile_report_renders_a_targets_run():
    from bench import profile_report

    text = "\n".join([stack(KOPF, ("validate", f"{GP}/webhooks/requests.py"), count=3), stack(KOPF, count=1)])
    report = {"when": "2026-12-01T00:00:00Z", "cpu_ms_per_grant": 40.0, "lifecycle": {
        "grants": 10, "approvals_per_grant": 2, "final_approvals_per_s": 20.0, "operator_cpu_s": 0.4,
        "seconds": 30.0, "idle_cpu_per_s": 0.01, "idle_cpu_ms_per_grant": 30.0, "profiler": "Samples: 4",
        "profile": phases.report(text, 0.4, 10), "rss_mib_all_live": 100.0, "peak_rss_mib_all_live": 101.0,
        "api_calls_per_grant": [{"verb": "POST", "resource": "events", "total": 30, "per_grant": 3.0}],
        "webhook_calls_per_grant": [{"webhook": "requests.gatepass.dev", "operation": "CREATE", "per_grant": 1.0}]}}
    page = profile_report.markdown(report)
    assert "| admission | 30.00 | 75.0% |" in page and "| POST | events | 3.00 |" in page


LOOP = [("main", f"{GP}/process/main.py"), ("BaseEventLoop._run_once", "/py/lib/python3.11/asyncio/base_events.py"),
        ("Handle._run", "/py/lib/python3.11/asyncio/events.py")]


def test_the_event_loop_and_entry_point_under_every_task_do_not_decide_the_phase():
    assert phases.phase_of(phases.parse(stack(*LOOP, KOPF))[0][0]) == "kopf (watches, machinery)"
    assert phases.phase_of(phases.parse(stack(*LOOP[:2], ("EpollSelector.select", "/py/lib/python3.11/selectors.py")))[0][0]) \
        == "asyncio / aiohttp"  # no task running: the loop itself, not the entry point under it


def test_a_client_call_on_a_kube_thread_is_named_by_its_api_method():
    call = ("Explained.__getattr__.<locals>.call", f"{GP}/controller/kubeio.py")
    status = ("CustomObjectsApi.patch_cluster_custom_object_status_with_http_info",
              f"{SITE}/kubernetes/client/api/custom_objects_api.py")
    event = ("CoreV1Api.create_namespaced_event", f"{SITE}/kubernetes/client/api/core_v1_api.py")
    assert phases.phase_of(phases.parse(stack(THREAD, call, status, CLIENT))[0][0]) == "status"
    assert phases.phase_of(phases.parse(stack(THREAD, call, event, CLIENT))[0][0]) == "events"


def test_waits_are_not_counted_as_work():
    text = "\n".join([stack(THREAD, count=90), stack(KOPF, count=10)])
    report = phases.report(text, cpu_seconds=1.0, grants=1)
    assert report["samples"] == 10 and report["idle_samples"] == 90


def test_polling_backs_off_as_the_wait_grows():
    import asyncio
    import time

    class Api:
        calls = 0

        async def allowed(self, user, namespace):
            self.calls += 1
            return self.calls > 5

    api = Api()
    since = time.time() - 3.0  # waited 3 s already: polls every 60 ms, not every 5 ms
    started = time.monotonic()
    asyncio.run(targets.poll(api, "u", True, since))
    assert api.calls == 6 and time.monotonic() - started >= 5 * 0.055
