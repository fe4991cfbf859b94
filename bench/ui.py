"""`make bench-ui` (and the end of `make bench`): the Web UI as its user meets it, in a real browser.

One control plane, the operator and the demo (AccessPolicy demo-dba; bob requests, alice and ivan
review), as `make dev` starts them. Bob creates ``--requests`` AccessRequests through the API with his own
client; alice and ivan approve a third of them and ivan denies another third, so the list has Pending,
Approved and Denied rows. Then ``kubectl access ui --context bob --no-browser`` runs as its own process and
Chromium (driven by playwright) signs in once with the printed link.

- **The list page.** ``/?tab=all`` is loaded in a fresh page ``--runs`` times after one warm-up. The browser
  reports first-contentful-paint and the navigation timing (Performance API); a script added to the page
  by the browser's DevTools protocol (not by the page, so the page's CSP still applies to everything
  else) records when the table holds all its rows (a page of the list: the newest ``PAGE_SIZE``), and the
  next animation frame after that; the All tab's count must say every request. Next to it,
  the same GET timed with an HTTP client (the server's own time), the fragment htmx re-fetches, and bob's
  list call to the API server (what the server waits for).
- **Approval to the requester's page.** For each of ``--approvals`` fresh requests, bob's request page is
  open (never reloaded); alice creates an AccessReview through the API; the time runs from the create's
  return until bob's page shows "1 of 2 — alice"; then ivan approves and it runs until the page says
  "State: Approved". The page's DOM change is recorded in the page (a MutationObserver added the same
  way), with htmx's own events for the break-down: server-sent event arrived, fragment fetch sent and
  answered, swapped.

Targets: first paint of the list at 1,000 requests under 300 ms; approval to the page under 1 s (p95).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gatepass.cli.commands import request_body, review_body
from gatepass.cli.kube import Kube
from gatepass.cli.ui.screens import PAGE_SIZE
from gatepass.devcluster.binaries import ensure_binaries

from .demo import DemoCluster
from .run import ROOT, machine, say, utc_now
from .stats import percentile

FIRST_PAINT_TARGET_MS = 300.0
APPROVAL_TARGET_MS = 1000.0
PLUGIN = str(Path(sys.executable).with_name("kubectl-access"))
CHROMIUM = "/usr/bin/chromium"
OPEN = re.compile(r"^Open (http://127\.0\.0\.1:(\d+)/)\?token=([A-Za-z0-9_-]+)$")
ROWS = "table.requests tbody tr"
#: Quiet before each timed list load (ms).
IDLE_MS = 1500
#: htmx waits this long after a server-sent event before it fetches the fragment (hx-trigger's delay).
HTMX_DELAY_MS = 300

#: Added to each timed list page before its own scripts: when the table holds ``expected`` rows, and the
#: frame after. Runs through the DevTools protocol, so the page's CSP (script-src 'self') is untouched.
ROWS_PROBE = """
(() => {
  const expected = %d;
  const probe = window.__gatepassBench = {};
  const check = () => {
    if (probe.rows || document.querySelectorAll(%s).length < expected) return;
    probe.rows = performance.now();
    requestAnimationFrame(() => { probe.rowsFrame = performance.now(); });
    observer.disconnect();
  };
  const observer = new MutationObserver(check);
  observer.observe(document, {childList: true, subtree: true});
  document.addEventListener("DOMContentLoaded", check);
})();
"""

#: Read after a list page has loaded: the Performance API's figures, in ms since navigation start.
READ_TIMING = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  const probe = window.__gatepassBench || {};
  return {fcp: paint ? paint.startTime : null, ttfb: nav.responseStart, response_end: nav.responseEnd,
          dom_interactive: nav.domInteractive, dom_content_loaded: nav.domContentLoadedEventEnd,
          load: nav.loadEventEnd, rows: probe.rows ?? null, rows_frame: probe.rowsFrame ?? null,
          transfer_bytes: nav.transferSize,
          first_paint: (performance.getEntriesByName("first-paint")[0] || {}).startTime ?? null,
          resources: Object.fromEntries(performance.getEntriesByType("resource")
            .filter(e => e.name.includes("/static/"))
            .map(e => [new URL(e.name).pathname, [e.startTime, e.responseEnd]])),
          rows_in_dom: document.querySelectorAll(%s).length,
          all_count: (document.querySelector('nav.tabs a[href^="/?tab=all"] .count') || {}).textContent ?? null};
}"""

#: Added once to bob's request page: the wall time (Date.now, ms) of htmx's events and of the first DOM
#: change that shows ``text``, and the frame after it.
WATCH_PAGE = """(text) => {
  const probe = window.__gatepassBench = {text, events: []};
  for (const name of ["htmx:sseMessage", "htmx:beforeSend", "htmx:afterRequest", "htmx:afterSwap"]) {
    document.body.addEventListener(name, () => probe.events.push([name, Date.now()]));
  }
  new MutationObserver(() => {
    if (probe.shown || !document.body.innerText.includes(probe.text)) return;
    probe.shown = Date.now();
    requestAnimationFrame(() => { probe.shownFrame = Date.now(); });
  }).observe(document.body, {childList: true, subtree: true, characterData: true});
  return true;
}"""

#: Arms the page's probe for the next change: what text to wait for, and a clean event list.
ARM_PAGE = """(text) => {
  const probe = window.__gatepassBench;
  probe.text = text; probe.events = []; probe.shown = null; probe.shownFrame = null;
  return document.body.innerText.includes(text);
}"""


# -- figures (pure) ------------------------------------------------------------------------------------


def figures(values: Iterable[float | None]) -> dict:
    """Median, p95 and max of ``values`` in ms (``None`` readings left out), rounded to 0.1 ms."""
    kept = [v for v in values if v is not None]
    if not kept:
        return {"runs": 0, "median_ms": None, "p95_ms": None, "max_ms": None}
    return {"runs": len(kept), "median_ms": round(statistics.median(kept), 1),
            "p95_ms": round(percentile(kept, 95), 1), "max_ms": round(max(kept), 1)}


def stages(sent_at: float, probe: Mapping) -> dict:
    """One change's way to the page, in ms from the review's create returning (``sent_at``, ms since the
    epoch): the last server-sent event before the fragment fetch, the fetch sent and answered, the swap, the
    DOM showing it and the frame after. ``None`` for a stage the page did not record."""
    events = probe.get("events") or []

    def first(name: str, after: float | None = None) -> float | None:
        return next((t for n, t in events if n == name and (after is None or t >= after)), None)

    sent = first("htmx:beforeSend")
    sse = max((t for n, t in events if n == "htmx:sseMessage" and (sent is None or t <= sent)), default=None)
    answered = first("htmx:afterRequest", sent)
    swapped = first("htmx:afterSwap", answered)

    def since(t: float | None) -> float | None:
        return None if t is None else t - sent_at

    return {"event": since(sse), "fetch_sent": since(sent), "fetch_answered": since(answered),
            "swapped": since(swapped), "shown": since(probe.get("shown")), "frame": since(probe.get("shownFrame"))}


def breakdown(runs: list[dict]) -> dict:
    """Each stage's median over ``runs`` (a list of ``stages`` results), and the step between stages."""
    keys = ("event", "fetch_sent", "fetch_answered", "swapped", "shown", "frame")
    medians = {k: figures(r[k] for r in runs)["median_ms"] for k in keys}
    steps = {
        "operator + watch + SSE": ("start", "event"),
        "htmx delay (hx-trigger delay:300ms)": ("event", "fetch_sent"),
        "fragment fetch": ("fetch_sent", "fetch_answered"),
        "swap": ("fetch_answered", "swapped"),
        "to the next frame": ("swapped", "frame"),
    }

    def step(a: str, b: str) -> float | None:
        values = [r[b] - (0.0 if a == "start" else r[a]) for r in runs
                  if r.get(b) is not None and (a == "start" or r.get(a) is not None)]
        return figures(values)["median_ms"]

    return {"stage_median_ms": medians, "step_median_ms": {label: step(a, b) for label, (a, b) in steps.items()}}


def verdicts(list_page: Mapping, approvals: Mapping) -> dict:
    """Each target against its p95: first contentful paint of the list (and, stricter, the table complete)
    under 300 ms; approval to the page under 1 s for either approval."""
    def under(figure: Mapping, target: float) -> bool:
        return figure["p95_ms"] is not None and figure["p95_ms"] < target

    return {
        "first_paint": under(list_page["first_contentful_paint"], FIRST_PAINT_TARGET_MS),
        "table_complete": under(list_page["rows_frame"], FIRST_PAINT_TARGET_MS),
        "approval": under(approvals["first"]["frame"], APPROVAL_TARGET_MS)
        and under(approvals["second"]["frame"], APPROVAL_TARGET_MS),
    }


def assemble(*, requests: int, runs: int, load: Mapping, list_page: Mapping, server: Mapping,
             approvals: Mapping, notes: list[str], when: str | None = None, host: Mapping | None = None,
             rows_shown: int | None = None) -> dict:
    return {
        "benchmark": "ui",
        "when": when or utc_now(),
        "machine": dict(host or machine()),
        "load_average_1m": dict(load),
        "requests": requests,
        "rows_shown": requests if rows_shown is None else rows_shown,
        "runs": runs,
        "targets_ms": {"first_paint_p95": FIRST_PAINT_TARGET_MS, "approval_to_page_p95": APPROVAL_TARGET_MS},
        "targets_met": verdicts(list_page, approvals),
        "list_page": dict(list_page),
        "server": dict(server),
        "approval_to_page": dict(approvals),
        "notes": list(notes),
    }


def table(result: Mapping) -> str:
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.0f}"

    def row(label: str, figure: Mapping) -> tuple[str, str, str, str]:
        return label, cell(figure["median_ms"]), cell(figure["p95_ms"]), cell(figure["max_ms"])

    page, server, approvals = result["list_page"], result["server"], result["approval_to_page"]
    n = result["requests"]
    shown = result.get("rows_shown", n)
    complete = f"{n} rows" if shown == n else f"{shown} of {n} rows"
    rows = [("measure", "median ms", "p95 ms", "max ms")]
    rows += [row(f"list /?tab=all ({n}): {label}", page[key]) for key, label in (
        ("first_contentful_paint", "first contentful paint"), ("ttfb", "first byte"),
        ("response_end", "last byte"), ("dom_content_loaded", "DOMContentLoaded"),
        ("rows_frame", f"table complete ({complete}, next frame)"))]
    rows += [row(f"server: {label}", figure) for label, figure in server.items()]
    rows.append(row("approval -> page: 1 of 2 — alice", approvals["first"]["frame"]))
    rows.append(row("approval -> page: State: Approved", approvals["second"]["frame"]))
    width = max(len(r[0]) for r in rows)
    lines = [f"{a:<{width}}  {b:>9}  {c:>6}  {d:>6}" for a, b, c, d in rows]
    for which in ("first", "second"):
        steps = approvals[which]["breakdown"]["step_median_ms"]
        lines.append(f"  {which} approval, median steps: " + ", ".join(f"{k} {cell(v)}" for k, v in steps.items()))
    load = result["load_average_1m"]
    lines.append(f"load average (1 min) at start / end: {load['start']} / {load['end']} "
                 f"on {result['machine']['cpus']} CPUs; {result['runs']} runs")
    met = result["targets_met"]
    word = {True: "met", False: "MISSED"}
    lines.append(f"targets (p95): first paint < {FIRST_PAINT_TARGET_MS:.0f} ms: {word[met['first_paint']]} "
                 f"(table complete: {word[met['table_complete']]}); approval -> page < "
                 f"{APPROVAL_TARGET_MS:.0f} ms: {word[met['approval']]}")
    return "\n".join(lines)


# -- the run -----------------------------------------------------------------------------------------


class UIProcess:
    """``kubectl access ui --context USER --no-browser`` as its own process; ``url`` and ``token`` once up."""

    def __init__(self, kubeconfig: Path, context: str) -> None:
        self.process = subprocess.Popen([PLUGIN, f"--kubeconfig={kubeconfig}", f"--context={context}", "ui",
                                         "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, stdin=subprocess.DEVNULL)
        ready, _, _ = select.select([self.process.stdout], [], [], 60)
        line = self.process.stdout.readline().strip() if ready else ""
        found = OPEN.match(line)
        if not found:
            self.stop()
            raise RuntimeError(f"kubectl access ui printed {line!r}: {self.process.stderr.read()}")
        self.url, self.port, self.token = found.group(1), int(found.group(2)), found.group(3)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.communicate()


def timed_get(port: int, path: str, cookie: str, runs: int) -> dict:
    """The UI server's own time for ``path``: a GET over a fresh connection, to the last byte, after a warm-up."""
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", path, headers={"Host": f"127.0.0.1:{port}", "Cookie": cookie})
        response = connection.getresponse()
        response.read()
        connection.close()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}")
        if i:
            times.append((time.perf_counter() - start) * 1000)
    return figures(times)


def timed_call(call: Callable[[], object], runs: int) -> dict:
    times = []
    for i in range(runs + 1):
        start = time.perf_counter()
        call()
        if i:
            times.append((time.perf_counter() - start) * 1000)
    return figures(times)


class UIBench(DemoCluster):
    def __init__(self, workdir: Path, bins: Path, requests: int, runs: int, approvals: int) -> None:
        super().__init__(workdir, bins)
        self.requests, self.runs, self.approvals = requests, runs, approvals
        self.notes: list[str] = []

    def kube(self, user: str) -> Kube:
        return Kube.connect(str(self.plane.kubeconfig), user)

    # -- seeding

    def in_parallel(self, user: str, work: Callable[[Kube, int], str], count: int, threads: int = 6) -> list[str]:
        local = threading.local()

        def one(i: int) -> str:
            if not hasattr(local, "kube"):
                local.kube = self.kube(user)
            return work(local.kube, i)

        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(one, range(count)))

    def create(self, kube: Kube, i: int) -> str:
        body = request_body(roles=["dba"], namespaces=["payments"], reason=f"bench {i}", duration="1h")
        return kube.create_request(body)["metadata"]["name"]

    def review(self, kube: Kube, name: str, decision: str, reviewer: str) -> None:
        kube.create_review(review_body(name, decision, "bench", reviewer))

    def states(self, kube: Kube) -> dict[str, int]:
        counts: dict[str, int] = {}
        for obj in kube.list_requests():
            state = (obj.get("status") or {}).get("state") or "none"
            counts[state] = counts.get(state, 0) + 1
        return counts

    def settle(self, kube: Kube, expected: Mapping[str, int], timeout: float = 600) -> None:
        deadline, last = time.monotonic() + timeout, 0.0
        while time.monotonic() < deadline:
            counts = self.states(kube)
            if all(counts.get(s, 0) >= n for s, n in expected.items()):
                return
            if time.monotonic() - last > 10:
                say(f"  waiting for the operator: {counts}, expecting {dict(expected)}")
                last = time.monotonic()
            time.sleep(1)
        raise TimeoutError(f"the operator did not reach {dict(expected)}")

    def operator_has_the_policy(self, bob: Kube, timeout: float = 60) -> None:
        """A request made before the operator has read demo-dba is denied (no policy allows it): wait until a
        probe request stays Pending, then drop the probe. Only then are the seeded requests made."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            name = self.create(bob, -1)
            while not (state := (bob.get_request(name).get("status") or {}).get("state")):
                time.sleep(0.1)
            self.kubectl.run("delete", "accessrequest", name, "--wait=false")
            if state == "Pending":
                return
            time.sleep(1)
        raise TimeoutError("the operator never allowed a request under demo-dba")

    def seed(self) -> None:
        """Bob's requests; a third approved by alice and ivan, a third denied by ivan, the rest Pending."""
        started = time.monotonic()
        bob = self.kube("bob")
        self.operator_has_the_policy(bob)
        names = self.in_parallel("bob", self.create, self.requests)
        approved = [n for i, n in enumerate(names) if i % 3 == 1]
        denied = [n for i, n in enumerate(names) if i % 3 == 2]
        self.settle(bob, {"Pending": len(names)})
        for reviewer in ("alice", "ivan"):
            self.in_parallel(reviewer, lambda kube, i: self.review(kube, approved[i], "Approve", reviewer),
                             len(approved))
        self.in_parallel("ivan", lambda kube, i: self.review(kube, denied[i], "Deny", "ivan"), len(denied))
        self.settle(bob, {"Approved": len(approved), "Denied": len(denied),
                          "Pending": len(names) - len(approved) - len(denied)})
        deadline = time.monotonic() + 60
        while len(bob.list_requests()) > len(names) and time.monotonic() < deadline:
            time.sleep(0.5)  # the deleted probes
        self.rows = len(bob.list_requests())
        self.shown = min(self.rows, PAGE_SIZE)
        say(f"{len(names)} requests seeded ({len(approved)} approved, {len(denied)} denied) "
            f"in {time.monotonic() - started:.0f} s")

    # -- measuring

    def list_page(self, context, base: str) -> dict:
        """``--runs`` fresh loads of /?tab=all, after one warm-up, read through the Performance API."""
        context.add_init_script(ROWS_PROBE % (self.shown, json.dumps(ROWS)))
        readings = []
        page = context.new_page()  # one tab, loading the page again and again (static files are no-store)
        for i in range(self.runs + 1):
            # Each load starts from an idle server: the previous page's event stream and its fragment
            # fetch are done.
            page.wait_for_timeout(IDLE_MS)
            page.goto(f"{base}?tab=all", wait_until="load")
            page.locator(ROWS).nth(self.shown - 1).wait_for(state="attached")
            page.wait_for_timeout(100)  # the frame after the last row
            reading = page.evaluate(READ_TIMING % json.dumps(ROWS))
            if reading["rows_in_dom"] != self.shown:
                raise RuntimeError(f"the list showed {reading['rows_in_dom']} rows, not {self.shown}")
            if reading["all_count"] != str(self.rows):
                raise RuntimeError(f"the All tab counted {reading['all_count']} requests, not {self.rows}")
            if i:
                readings.append(reading)
        page.close()
        keys = ("fcp", "first_paint", "ttfb", "response_end", "dom_interactive", "dom_content_loaded", "load", "rows",
                "rows_frame")
        result = {("first_contentful_paint" if k == "fcp" else k): figures(r[k] for r in readings) for k in keys}
        result["html_bytes"] = readings[-1]["transfer_bytes"]
        result["static_files"] = {path: {"start": figures(r["resources"].get(path, [None])[0] for r in readings),
                                         "end": figures(r["resources"].get(path, [None, None])[1] for r in readings)}
                                  for path in sorted(readings[-1]["resources"])}
        return result

    def server(self, port: int, cookie: str) -> dict:
        bob = self.kube("bob")
        return {
            "GET /?tab=all (HTTP client)": timed_get(port, "/?tab=all", cookie, self.runs),
            "GET /fragments/requests?tab=all": timed_get(port, "/fragments/requests?tab=all", cookie, self.runs),
            "GET /?tab=all&page=10 (the oldest)": timed_get(port, "/?tab=all&page=10", cookie, self.runs),
            "API: list AccessRequests as bob": timed_call(bob.list_requests, self.runs),
            "API: list AccessPolicies as bob": timed_call(bob.list_policies, self.runs),
        }

    def wait_state(self, kube: Kube, name: str, state: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (kube.get_request(name).get("status") or {}).get("state") != state:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not become {state}")
            time.sleep(0.02)

    def approval(self, context, base: str) -> dict:
        """Fresh requests, bob's page open on each; alice, then ivan, approves through the API."""
        bob, alice, ivan = self.kube("bob"), self.kube("alice"), self.kube("ivan")
        page = context.new_page()
        runs: dict[str, list[dict]] = {"first": [], "second": []}
        for i in range(self.approvals + 1):
            name = self.create(bob, self.requests + i)
            self.wait_state(bob, name, "Pending")
            page.goto(f"{base}requests/{name}", wait_until="load")
            page.get_by_role("heading", name="State: Pending").wait_for()
            page.evaluate(WATCH_PAGE, "")
            for which, reviewer, kube, text in (("first", "alice", alice, "1 of 2 — alice"),
                                                ("second", "ivan", ivan, "State: Approved")):
                page.wait_for_timeout(1000)  # quiet: earlier events' fetches are done
                if page.evaluate(ARM_PAGE, text):
                    raise RuntimeError(f"{name}'s page showed {text!r} before the review")
                self.review(kube, name, "Approve", reviewer)
                sent_at = time.time() * 1000
                shown = page.get_by_role("heading", name=text) if text.startswith("State") else page.get_by_text(text)
                shown.first.wait_for(timeout=30_000)  # coarse (playwright polls); the probe has the time
                page.wait_for_timeout(50)  # the frame after
                probe = page.evaluate("() => window.__gatepassBench")
                if i:
                    runs[which].append(stages(sent_at, probe))
        page.close()
        return {which: {"frame": figures(r["frame"] for r in found), "shown": figures(r["shown"] for r in found),
                        "breakdown": breakdown(found)} for which, found in runs.items()}

    def measure(self) -> dict:
        from playwright.sync_api import sync_playwright

        self.seed()
        ui = UIProcess(self.plane.kubeconfig, "bob")
        try:
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                context = browser.new_context(viewport={"width": 1280, "height": 800})
                page = context.new_page()
                page.goto(f"{ui.url}?token={ui.token}")
                page.get_by_text("Signed in as bob").wait_for()
                page.close()
                cookie = "; ".join(f"{c['name']}={c['value']}" for c in context.cookies())
                load_start = round(os.getloadavg()[0], 2)
                say(f"list page: {self.runs} timed loads of /?tab=all with {self.shown} of {self.rows} rows "
                    f"(load average {load_start})")
                list_page = self.list_page(context, ui.url)
                say(f"  first contentful paint median {list_page['first_contentful_paint']['median_ms']} ms, "
                    f"table complete median {list_page['rows_frame']['median_ms']} ms")
                server = self.server(ui.port, cookie)
                say(f"  server: {json.dumps(server)}")
                say(f"approval -> page: {self.approvals} fresh requests, two approvals each")
                approvals = self.approval(browser.new_context(storage_state=context.storage_state()), ui.url)
                say(f"  first approval {approvals['first']['frame']}, second {approvals['second']['frame']}")
                browser.close()
        finally:
            ui.stop()
        self.notes.append("Performance API entries are read with playwright's page.evaluate and the probes are "
                          "added with add_init_script/evaluate over the DevTools protocol; the page's strict "
                          "CSP applies to its own scripts, no bypass_csp was needed.")
        return assemble(requests=self.rows, rows_shown=self.shown, runs=self.runs, list_page=list_page,
                        server=server,
                        approvals=approvals, notes=self.notes,
                        load={"start": load_start, "end": round(os.getloadavg()[0], 2)})

    def run(self) -> dict:
        self.setup()
        try:
            return self.measure()
        finally:
            self.teardown()


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench.ui")
    parser.add_argument("--requests", type=int, default=1000, help="AccessRequests bob creates before the timing")
    parser.add_argument("--runs", type=int, default=20, help="timed loads of the list page (after one warm-up)")
    parser.add_argument("--approvals", type=int, default=20,
                        help="fresh requests approved twice while bob's page is open (after one warm-up)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "ui-results.json")
    parser.add_argument("--keep", type=Path, help="keep the operator's and control plane's logs in this folder")
    args = parser.parse_args()
    bins = ensure_binaries()
    with tempfile.TemporaryDirectory(prefix="gatepass-bench-ui-") as temporary:
        result = UIBench(Path(args.keep or temporary) / "ui", bins, args.requests, args.runs, args.approvals).run()
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print()
    print(table(result))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
