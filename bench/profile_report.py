"""``python -m bench.profile_report [results.json]``: the lifecycle profile of a targets run, as Markdown.

CPU per grant by phase, the top self-time functions, the top inclusive Gatepass functions, API calls
and webhook calls per grant, memory per live grant and per retained request.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def markdown(report: dict) -> str:
    life = report["lifecycle"]
    profile = life["profile"]
    out = [f"Run of {report['when']}, {life['grants']} grants, {life['approvals_per_grant']} approvals each, "
           f"final approvals at {life['final_approvals_per_s']:g}/s; operator {life['operator_cpu_s']:.1f} CPU s "
           f"over {life['seconds']:.0f} s (idle {life['idle_cpu_per_s'] * 1000:.0f} ms/s, "
           f"{life['idle_cpu_ms_per_grant']:.1f} ms per grant of it); {profile['samples']} samples "
           f"({life.get('profiler', '')}).", "",
           f"**CPU per grant: {report['cpu_ms_per_grant']:.1f} ms** (target 12).", "",
           "| phase | ms per grant | share |", "|---|---:|---:|"]
    for phase, row in profile["phases"].items():
        if row["samples"]:
            out.append(f"| {phase} | {row['ms_per_grant']:.2f} | {row['share'] * 100:.1f}% |")
    out += ["", "Top self time:", "", "| function | share | ms per grant |", "|---|---:|---:|"]
    out += [f"| `{r['function']}` | {r['share'] * 100:.1f}% | {r['ms_per_grant']:.2f} |" for r in profile["top_self"]]
    out += ["", "Top inclusive Gatepass functions:", "", "| function | share | ms per grant |", "|---|---:|---:|"]
    out += [f"| `{r['function']}` | {r['share'] * 100:.1f}% | {r['ms_per_grant']:.2f} |"
            for r in profile["top_inclusive_gatepass"]]
    out += ["", "API calls per grant (API server counters, less the benchmark's own):", "",
            "| verb | resource | per grant |", "|---|---|---:|"]
    out += [f"| {r['verb']} | {r['resource']} | {r['per_grant']:.2f} |" for r in life["api_calls_per_grant"]
            if r["per_grant"] >= 0.01]
    out += ["", "Admission webhook calls per grant:", "", "| webhook | operation | per grant |", "|---|---|---:|"]
    out += [f"| {r['webhook']} | {r['operation']} | {r['per_grant']:.2f} |" for r in life["webhook_calls_per_grant"]]
    memory = [f"RSS with all {life['grants']} live: {life['rss_mib_all_live']:.0f} MiB "
              f"(peak {life['peak_rss_mib_all_live']:.0f})."]
    if "live" in report:
        memory.append(f"Per live grant: {report['live']['rss_kib_per_live_grant']:.1f} KiB "
                      f"({report['live']['grants']} added).")
    if "retained" in report and report["retained"].get("rss_kib_per_retained") is not None:
        memory.append(f"Per retained (denied) request: {report['retained']['rss_kib_per_retained']:.1f} KiB "
                      f"(slope over {report['retained']['requests']}).")
    out += ["", " ".join(memory)]
    return "\n".join(out) + "\n"


def main() -> int:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("results.json"))
    print(markdown(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
