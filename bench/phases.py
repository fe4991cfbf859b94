"""Where the operator's CPU goes: py-spy's collapsed stacks attributed to the phases of a grant.

``py-spy record --format raw --full-filenames`` writes one line per distinct stack,
``frame;frame;...;frame COUNT``, root first, each frame ``function (path:line)``. py-spy
leaves out idle threads by default, so samples stand for time spent running (or holding
the GIL), and a phase's share of the samples is its share of the operator's CPU.

Only the frames above the event loop's ``Handle._run`` count (the running task's own), since the
loop and the operator's entry point under it are on every main-thread stack. Stacks ending in a
wait (``IDLE``: a worker thread on its queue, a blocking socket read, the selector) are dropped
first: py-spy does not see all of them as idle. A stack belongs to the first phase, in the order of ``PHASES``, one of whose rules
matches one of its frames; a rule is a (path fragment, function prefix) pair. The
operator's own frames decide first, so a Kubernetes client call made by the code that
posts Events is Events, a JSON decode inside the webhook is admission. Stacks with no
Gatepass frame fall to the library that runs them (kopf's watches and machinery, the
Kubernetes client, JSON, asyncio and aiohttp), the rest to "other".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*) \((?P<path>.*?)(?::(?P<line>\d+))?\)$")

#: phase -> rules; a rule matches a frame whose path contains the fragment and whose
#: function starts with the prefix ("" matches any function).
PHASES: dict[str, tuple[tuple[str, str], ...]] = {
    # The webhooks run in the operator: kopf's admission server and Gatepass's handlers.
    "admission": (("/gatepass/webhooks/", ""), ("/kopf/_kits/webhooks.py", ""),
                  ("/kopf/_core/engines/admission.py", "")),
    "notifications": (("/gatepass/notify/", ""),),
    "events": (("/gatepass/controller/kubeio.py", "Kube.event"), ("/gatepass/controller/kubeio.py", "Kube._create_event"),
               ("/gatepass/controller/kubeio.py", "Kube._count_event"),
               ("/gatepass/controller/reconciler.py", "Reconciler._post_events"),
               ("/gatepass/controller/audit.py", ""),
               # the client call itself runs on a Kube thread, where only the API method names it
               ("/kubernetes/client/api/core_v1_api.py", "CoreV1Api.create_namespaced_event"),
               ("/kubernetes/client/api/core_v1_api.py", "CoreV1Api.patch_namespaced_event"),
               ("/kubernetes/client/api/core_v1_api.py", "CoreV1Api.read_namespaced_event")),
    "status": (("/gatepass/controller/kubeio.py", "Kube.patch_status"), ("/gatepass/controller/kubeio.py", "Kube._uid_of"),
               ("/gatepass/controller/reconciler.py", "Reconciler._write_status"),
               ("/gatepass/controller/reconciler.py", "Reconciler.policy_status"),
               ("/kubernetes/client/api/custom_objects_api.py", "CustomObjectsApi.patch_cluster_custom_object_status")),
    # Deciding and binding: the reconciler, the store, the queue, the pure core, RBAC writes and checks.
    "reconcile": (("/gatepass/controller/", ""), ("/gatepass/core/", ""), ("/gatepass/rules/", ""),
                  ("/gatepass/api/", "")),
    # The rest of the operator's own code (start-up, leadership, process wiring).
    "operator (other)": (("/gatepass/", ""),),
    # No Gatepass frame: the library that was running.
    "kopf (watches, machinery)": (("/kopf/", ""),),
    "kubernetes client": (("/kubernetes/", ""), ("/urllib3/", "")),
    "json": (("/json/", ""),),
    "asyncio / aiohttp": (("/asyncio/", ""), ("/aiohttp/", ""), ("/ssl.py", "")),
}
OTHER = "other"

#: Leaves that are waits, not work: a thread blocked on its work queue, a socket or the event loop's
#: selector. py-spy does not always see such threads as idle (a lock wait, a blocking SSL read), so
#: stacks ending in one are left out before anything is counted. (path fragment, function) pairs.
IDLE = (
    ("concurrent/futures/thread.py", "_worker"),
    ("/ssl.py", "SSLSocket.read"),
    ("/ssl.py", "SSLSocket.recv_into"),
    ("/selectors.py", "EpollSelector.select"),
    ("urllib3/util/wait.py", "poll_wait_for_socket.<locals>.do_poll"),
    ("/threading.py", "Condition.wait"),
    ("/threading.py", "Event.wait"),
    ("/queue.py", "Queue.get"),
)


@dataclass(frozen=True)
class Frame:
    function: str
    path: str

    @property
    def name(self) -> str:
        """``module-ish path: function``, the path cut to after site-packages or the source folder."""
        return f"{short_path(self.path)}:{self.function}"


def short_path(path: str) -> str:
    for marker in ("/site-packages/", "/operator/", "/lib/python3.11/", "/lib/python3.12/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def parse_frame(text: str) -> Frame:
    match = FRAME.match(text.strip())
    if not match:
        return Frame(text.strip(), "")
    return Frame(match["function"], match["path"])


def parse(text: str) -> list[tuple[list[Frame], int]]:
    """Collapsed stacks: one (frames root first, samples) per line."""
    stacks = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        stacks.append(([parse_frame(f) for f in stack.split(";")], int(count)))
    return stacks


def _matches(frame: Frame, rules: tuple[tuple[str, str], ...]) -> bool:
    return any(fragment in frame.path and frame.function.startswith(prefix) for fragment, prefix in rules)


def task_frames(frames: list[Frame]) -> list[Frame]:
    """The frames of the asyncio callback or task step running, without the event loop and the
    operator's entry point under it (which are on every main-thread stack); a thread's stack whole."""
    for index in range(len(frames) - 1, -1, -1):
        if frames[index].function == "Handle._run" and "asyncio/events.py" in frames[index].path:
            return frames[index + 1:]
    for index in range(len(frames) - 1, -1, -1):  # the loop's own work, between callbacks
        if frames[index].function == "BaseEventLoop._run_once" and "asyncio/base_events.py" in frames[index].path:
            return frames[index:]
    return frames


def phase_of(frames: list[Frame]) -> str:
    frames = task_frames(frames)
    for phase, rules in PHASES.items():
        if any(_matches(frame, rules) for frame in frames):
            return phase
    return OTHER


def idle(frames: list[Frame]) -> bool:
    return bool(frames) and any(fragment in frames[-1].path and frames[-1].function == function
                                for fragment, function in IDLE)


def working(stacks: list[tuple[list[Frame], int]]) -> list[tuple[list[Frame], int]]:
    return [(frames, count) for frames, count in stacks if not idle(frames)]


def attribute(stacks: list[tuple[list[Frame], int]]) -> Counter:
    """Samples per phase."""
    counts: Counter = Counter()
    for frames, count in stacks:
        counts[phase_of(frames)] += count
    return counts


def self_time(stacks: list[tuple[list[Frame], int]]) -> Counter:
    """Samples per leaf function."""
    counts: Counter = Counter()
    for frames, count in stacks:
        if frames:
            counts[frames[-1].name] += count
    return counts


def inclusive(stacks: list[tuple[list[Frame], int]], fragment: str = "/gatepass/") -> Counter:
    """Samples per function on the stack (counted once per stack), for frames whose path contains ``fragment``."""
    counts: Counter = Counter()
    for frames, count in stacks:
        for name in {f.name for f in task_frames(frames) if fragment in f.path}:
            counts[name] += count
    return counts


def report(text: str, cpu_seconds: float, grants: int, top: int = 25) -> dict:
    """Phases as CPU ms per grant and shares, the top self-time functions and the top inclusive Gatepass ones.

    The samples are scaled to the operator's measured CPU seconds over the same window, so the
    phases add up to ``cpu_seconds / grants``."""
    every = parse(text)
    stacks = working(every)
    total = sum(count for _, count in stacks)
    per_sample_ms = (cpu_seconds * 1000 / total / max(grants, 1)) if total else 0.0
    phases = attribute(stacks)
    order = [*PHASES, OTHER]

    def rows(counter: Counter) -> list[dict]:
        return [{"function": name, "samples": n, "share": n / total, "ms_per_grant": n * per_sample_ms}
                for name, n in counter.most_common(top)]

    return {
        "samples": total,
        "idle_samples": sum(count for _, count in every) - total,
        "phases": {p: {"samples": phases.get(p, 0), "share": phases.get(p, 0) / total if total else 0.0,
                       "ms_per_grant": phases.get(p, 0) * per_sample_ms} for p in order},
        "top_self": rows(self_time(stacks)),
        "top_inclusive_gatepass": rows(inclusive(stacks)),
    }


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
