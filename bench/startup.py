"""The operator's start-up: when its log lines were written, and what its imports cost.

The operator's text log stamps each line with ``%(asctime)s`` (local time, milliseconds), so
the time from process start (``process_started_at``, the kernel's own figure) to its first
line, to "Armed N deadlines from the listing" (every deadline of the listing armed: the
re-arm) and to "Caught up after start-up" (every request reconciled once), can be read
afterwards without polling. ``python -X importtime`` prints one line per module imported,
``import time: self [us] | cumulative | package``.

The log of a restarted operator is appended to: read only what the new process wrote
(``own_lines``, from its "Starting gatepass-operator (pid N)"), or the old one's last lines
("Stopped reconciling", written while it shut down, before the new one started) are taken
for the new one's first, and its first line comes out before its start.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from gatepass.process.main import STARTING

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
ARMED = re.compile(r"Armed (\d+) deadlines from the listing \((\d+) already due\) in ([\d.]+)s")
CAUGHT_UP = re.compile(r"Caught up after start-up: worked (\d+) items, (\d+) deadlines armed, in ([\d.]+)s")
IMPORT = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def stamp(line: str) -> float | None:
    """The line's time as a Unix timestamp, or None for a line without one."""
    match = STAMP.match(line)
    if not match:
        return None
    return datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def own_lines(log: str, pid: int) -> str:
    """What process ``pid`` wrote to ``log``: from its first line on ("" before it wrote it)."""
    at = log.find(STARTING % pid)
    return "" if at < 0 else log[log.rfind("\n", 0, at) + 1:]


def first_line_at(log: str) -> float | None:
    for line in log.splitlines():
        at = stamp(line)
        if at is not None:
            return at
    return None


def armed(log: str) -> dict | None:
    """The first "Armed N deadlines from the listing" line: when, deadlines armed and due, the seconds it took."""
    for line in log.splitlines():
        match = ARMED.search(line)
        if match:
            return {"at": stamp(line), "deadlines_armed": int(match[1]), "already_due": int(match[2]),
                    "arming_s": float(match[3])}
    return None


def process_started_at(pid: int) -> float | None:
    """When process ``pid`` started, as a Unix timestamp (the kernel's: boot time + start ticks), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        with open("/proc/stat", encoding="ascii") as machine:
            boot = next(int(line.split()[1]) for line in machine if line.startswith("btime "))
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime; fields[0] is field 3


def caught_up(log: str) -> dict | None:
    """The first "Caught up" line: when, items worked, deadlines armed, and the operator's own figure."""
    for line in log.splitlines():
        match = CAUGHT_UP.search(line)
        if match:
            return {"at": stamp(line), "worked": int(match[1]), "deadlines_armed": int(match[2]),
                    "caught_up_s": float(match[3])}
    return None


def parse_importtime(text: str, top: int = 10) -> dict:
    """Total import time and the top-level packages (and the heaviest modules) by cumulative time."""
    rows = []
    for line in text.splitlines():
        match = IMPORT.match(line)
        if match:
            rows.append((int(match[1]), int(match[2]), len(match[3]), match[4]))
    if not rows:
        return {"total_s": None, "top_level": [], "top_self": []}
    outermost = min(depth for _, _, depth, _ in rows)
    top_level = [(name, cumulative) for _, cumulative, depth, name in rows if depth == outermost]
    total = sum(cumulative for _, cumulative in top_level)
    return {
        "total_s": total / 1e6,
        "top_level": [{"module": n, "cumulative_ms": c / 1000} for n, c in sorted(top_level, key=lambda r: -r[1])[:top]],
        "top_self": [{"module": n, "self_ms": s / 1000} for s, _, _, n in sorted(rows, key=lambda r: -r[0])[:top]],
    }


def import_time(env: dict | None = None, runs: int = 3) -> dict:
    """``python -X importtime -m gatepass --help``, the run with the median total."""
    results = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "gatepass", "--help"],
                              capture_output=True, text=True, env=env, timeout=120)
        results.append(parse_importtime(done.stderr))
    results.sort(key=lambda r: r["total_s"] or 0)
    return results[len(results) // 2]


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
