"""Imported at start-up by a Python whose PYTHONPATH holds this folder (bench --tracemalloc does so
for the operator only): traces allocations from the first import, and on SIGUSR2 writes the
largest allocation sites, by source line and by file, to $GATEPASS_BENCH_TRACEMALLOC."""

import os
import signal
import tracemalloc

_OUT = os.environ.get("GATEPASS_BENCH_TRACEMALLOC")

if _OUT:
    tracemalloc.start(int(os.environ.get("GATEPASS_BENCH_TRACEMALLOC_FRAMES", "1")))

    def _snapshot(signum, frame):  # runs in the main thread, between bytecodes
        import json

        snapshot = tracemalloc.take_snapshot().filter_traces((
            tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib._bootstrap>")))
        def rows(key):
            return [{"where": str(stat.traceback[0]), "kib": stat.size / 1024, "blocks": stat.count}
                    for stat in snapshot.statistics(key)[:40]]
        traced, peak = tracemalloc.get_traced_memory()
        with open(_OUT, "w") as handle:
            json.dump({"traced_mib": traced / 2**20, "peak_mib": peak / 2**20,
                       "lines": rows("lineno"), "files": rows("filename")}, handle, indent=1)

    signal.signal(signal.SIGUSR2, _snapshot)
