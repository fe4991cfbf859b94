"""The shipped alerts and dashboard (manifests/components/monitoring, and the chart's copies), read for tests:
their PromQL expressions, the metric names a /metrics text exports, and a check of one expression against them.

No PromQL parser is installed: ``problems`` checks what a parser would refuse first (unbalanced brackets or
quotes, unknown functions) and what no parser can see (a metric the operator does not export).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
COMPONENT = REPO / "manifests" / "components" / "monitoring"
CHART_FILES = REPO / "charts" / "gatepass" / "files"
RULE, DASHBOARD = "prometheusrule.yaml", "dashboard.json"

FUNCTIONS = {"sum", "max", "min", "avg", "count", "rate", "increase", "irate", "histogram_quantile", "vector",
             "clamp_min", "absent", "topk", "time", "timestamp"}
KEYWORDS = {"by", "without", "or", "and", "unless", "on", "ignoring", "bool", "offset"}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_DURATION = re.compile(r"\[\d+[smhdwy]\]")
_SELECTOR = re.compile(r"\{[^{}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^()]*)\)")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def rule() -> dict:
    return yaml.safe_load((COMPONENT / RULE).read_text())


def rule_expressions() -> list[tuple[str, str]]:
    """(alert, expression) of every rule."""
    return [(r["alert"], r["expr"]) for group in rule()["spec"]["groups"] for r in group["rules"]]


def dashboard() -> dict:
    return json.loads((COMPONENT / DASHBOARD).read_text())


def dashboard_expressions() -> list[tuple[str, str]]:
    """(panel title, expression) of every query."""
    return [(panel["title"], target["expr"]) for panel in dashboard()["panels"]
            for target in panel.get("targets", ())]


def exported_names(text: str) -> set[str]:
    """The series names a /metrics text has or will have: a counter's _total, a histogram's _bucket, _count and
    _sum (families with no labelled child yet are there by their HELP and TYPE lines)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {sample.name for sample in family.samples}
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                    "summary": ("_count", "_sum")}.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads."""
    text = _DURATION.sub("", _SELECTOR.sub("", _STRING.sub('""', expr)))
    text = _GROUPING.sub(" ", text)
    found = set()
    for match in _IDENTIFIER.finditer(text):
        word = match.group()
        following = text[match.end():].lstrip()[:1]
        if word in KEYWORDS or following == "(":  # a call: checked as a function
            continue
        found.add(word)
    return found


def problems(expr: str, exported: set[str]) -> list[str]:
    """What is wrong with ``expr``: unbalanced brackets or quotes, unknown functions, unknown metrics."""
    found = []
    stripped = _STRING.sub('""', expr)
    if stripped.count('"') % 2:
        found.append("unbalanced quotes")
    stack, pairs = [], {")": "(", "]": "[", "}": "{"}
    for char in stripped:
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            found.append(f"unbalanced {char}")
    if stack:
        found.append(f"unclosed {''.join(stack)}")
    for call in re.finditer(r"([A-Za-z_]\w*)\s*\(", _GROUPING.sub(" ", stripped)):
        if call.group(1) not in FUNCTIONS | KEYWORDS:
            found.append(f"unknown function {call.group(1)}")
    names = metric_names(expr)
    if not names:
        found.append("reads no metric")
    found += [f"unknown metric {name}" for name in sorted(names - exported)]
    return found
