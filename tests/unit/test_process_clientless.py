"""The operator process never loads the Kubernetes client library nor pykube (issue 15: some 34 MiB of
memory and a second of imports): not when its modules are imported, not once it runs (kopf logged in with
the process's own handler, the start-up listing attempted). Its one API client is gatepass.kube.http."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

OPERATOR = str(Path(__file__).resolve().parents[2] / "operator")
CLIENTS = ("kubernetes", "kubernetes_asyncio", "pykube")


def run(code: str, *args: str) -> dict:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "PYTHONPATH": OPERATOR})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_importing_every_module_of_the_operator_process_loads_no_client_library():
    found = run(f"""
        import json, pkgutil, importlib, sys
        import gatepass.process.main
        for package in ("process", "controller", "webhooks", "notify", "rules"):
            base = importlib.import_module("gatepass." + package)
            for module in pkgutil.walk_packages(base.__path__, base.__name__ + "."):
                importlib.import_module(module.name)
        for name in ("credentials", "errors", "http", "kubeconfig", "locations"):
            importlib.import_module("gatepass.kube." + name)
        print(json.dumps({{"loaded": sorted(m for m in sys.modules if m.split(".")[0] in {CLIENTS!r})}}))
    """)
    assert found == {"loaded": []}


def test_a_running_operator_loads_no_client_library(tmp_path):
    from gatepass.process.certificates import generate

    bundle = generate(["localhost"], datetime.now(timezone.utc))
    (tmp_path / "tls.crt").write_bytes(bundle.cert)
    (tmp_path / "tls.key").write_bytes(bundle.key)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t0ken"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))
    # kopf's login and a round of the leader election (which cannot reach the API server here) are recorded
    # as they are called; once both were, the modules loaded are printed and the process ends.
    found = run(f"""
        import functools, json, os, sys, threading
        from gatepass.process import connection, leadership

        seen, done = set(), threading.Event()

        def note(name):
            seen.add(name)
            if seen >= {{"login", "lease"}}:
                done.set()

        login = connection.connection_info
        connection.connection_info = lambda client: (note("login"), login(client))[1]
        round_ = leadership.LeaderElection._round

        async def campaigned(self):
            note("lease")
            return await round_(self)

        leadership.LeaderElection._round = campaigned

        def report():
            done.wait(120)
            loaded = sorted(m for m in sys.modules if m.split(".")[0] in {CLIENTS!r})
            print(json.dumps({{"seen": sorted(seen), "loaded": loaded}}), flush=True)
            os._exit(0)

        threading.Thread(target=report, daemon=True).start()
        from gatepass.process.main import main
        main(sys.argv[1:])
    """, "--kubeconfig", str(kubeconfig), "--leader-elect", "--http-port=0", "--log-level=error",
                f"--webhook-cert={tmp_path / 'tls.crt'}", f"--webhook-key={tmp_path / 'tls.key'}", "--webhook-port=0")
    assert found == {"seen": ["lease", "login"], "loaded": []}
