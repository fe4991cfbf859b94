"""The Web UI benchmark's pure parts: its statistics, the way to the page, the verdicts and the report."""

from __future__ import annotations

import json

from bench import ui


def figure(median: float | None, p95: float | None) -> dict:
    return {"runs": 20, "median_ms": median, "p95_ms": p95, "max_ms": p95}


def list_page(fcp_p95: float, rows_p95: float) -> dict:
    keys = ("first_contentful_paint", "first_paint", "ttfb", "response_end", "dom_interactive",
            "dom_content_loaded", "load", "rows", "rows_frame")
    page = {key: figure(10.0, 20.0) for key in keys}
    page["first_contentful_paint"] = figure(fcp_p95 / 2, fcp_p95)
    page["rows_frame"] = figure(rows_p95 / 2, rows_p95)
    return page


def approvals(first_p95: float, second_p95: float) -> dict:
    def one(p95: float) -> dict:
        steps = {"operator + watch + SSE": 20.0, "htmx delay (hx-trigger delay:300ms)": 300.0,
                 "fragment fetch": 15.0, "swap": 1.0, "to the next frame": 2.0}
        return {"frame": figure(p95 / 2, p95), "shown": figure(p95 / 2, p95),
                "breakdown": {"stage_median_ms": {}, "step_median_ms": steps}}
    return {"first": one(first_p95), "second": one(second_p95)}


def test_figures_are_median_p95_and_max_of_what_was_read():
    assert ui.figures([30.0, 10.0, 20.0, None]) == {"runs": 3, "median_ms": 20.0, "p95_ms": 30.0, "max_ms": 30.0}
    assert ui.figures(float(v) for v in range(1, 21))["p95_ms"] == 19.0
    assert ui.figures([1.04, 1.06])["median_ms"] == 1.1


def test_figures_of_nothing_say_so_instead_of_failing():
    assert ui.figures([None, None]) == {"runs": 0, "median_ms": None, "p95_ms": None, "max_ms": None}


def test_a_change_is_timed_from_the_review_to_each_stage_of_its_way():
    probe = {"events": [["htmx:sseMessage", 1010.0], ["htmx:sseMessage", 1030.0], ["htmx:beforeSend", 1331.0],
                        ["htmx:afterRequest", 1350.0], ["htmx:afterSwap", 1352.0]],
             "shown": 1352.5, "shownFrame": 1360.0}
    assert ui.stages(1000.0, probe) == {"event": 30.0, "fetch_sent": 331.0, "fetch_answered": 350.0,
                                        "swapped": 352.0, "shown": 352.5, "frame": 360.0}


def test_an_event_after_the_fetch_does_not_count_as_its_cause():
    probe = {"events": [["htmx:sseMessage", 1020.0], ["htmx:beforeSend", 1320.0], ["htmx:sseMessage", 1400.0],
                        ["htmx:afterRequest", 1340.0], ["htmx:afterSwap", 1341.0]], "shown": 1341.0}
    stages = ui.stages(1000.0, probe)
    assert stages["event"] == 20.0 and stages["frame"] is None


def test_a_page_that_recorded_nothing_gives_no_stage():
    assert set(ui.stages(1000.0, {}).values()) == {None}


def test_the_breakdown_gives_the_median_step_between_stages():
    runs = [ui.stages(0.0, {"events": [["htmx:sseMessage", e], ["htmx:beforeSend", e + 300],
                                       ["htmx:afterRequest", e + 320], ["htmx:afterSwap", e + 321]],
                            "shown": e + 321, "shownFrame": e + 325}) for e in (10.0, 20.0, 30.0)]
    result = ui.breakdown(runs)
    assert result["stage_median_ms"]["frame"] == 345.0
    assert result["step_median_ms"] == {"operator + watch + SSE": 20.0, "htmx delay (hx-trigger delay:300ms)": 300.0,
                                        "fragment fetch": 20.0, "swap": 1.0, "to the next frame": 4.0}


def test_the_targets_are_judged_on_the_p95():
    met = ui.verdicts(list_page(299.0, 299.9), approvals(999.0, 999.9))
    assert met == {"first_paint": True, "table_complete": True, "approval": True}
    missed = ui.verdicts(list_page(300.0, 450.0), approvals(999.0, 1000.0))
    assert missed == {"first_paint": False, "table_complete": False, "approval": False}


def test_the_table_may_miss_while_the_first_paint_is_met():
    assert ui.verdicts(list_page(250.0, 400.0), approvals(500.0, 500.0)) == {
        "first_paint": True, "table_complete": False, "approval": True}


def test_either_approval_missing_misses_the_approval_target():
    assert not ui.verdicts(list_page(100.0, 100.0), approvals(1200.0, 500.0))["approval"]
    assert not ui.verdicts(list_page(100.0, 100.0), approvals(500.0, 1200.0))["approval"]


def test_no_reading_is_no_verdict_of_met():
    page = list_page(100.0, 100.0)
    page["first_contentful_paint"] = figure(None, None)
    assert not ui.verdicts(page, approvals(500.0, 500.0))["first_paint"]


def assembled(**changes) -> dict:
    arguments = {"requests": 1000, "runs": 20, "load": {"start": 1.0, "end": 1.5},
                 "list_page": list_page(250.0, 280.0), "server": {"GET /?tab=all (HTTP client)": figure(90.0, 120.0)},
                 "approvals": approvals(400.0, 420.0), "notes": ["a note"], "when": "2026-12-01T17:00:00Z",
                 "host": {"cpus": 2, "python": "3.11.7", "platform": "Linux"}}
    return ui.assemble(**{**arguments, **changes})


def test_the_result_names_the_run_its_machine_and_targets():
    result = assembled()
    assert result["benchmark"] == "ui" and result["when"] == "2026-12-01T17:00:00Z"
    assert result["machine"]["cpus"] == 2 and result["requests"] == 1000 and result["runs"] == 20
    assert result["targets_ms"] == {"first_paint_p95": 300.0, "approval_to_page_p95": 1000.0}
    assert result["targets_met"] == {"first_paint": True, "table_complete": True, "approval": True}
    assert result["notes"] == ["a note"]
    assert json.loads(json.dumps(result)) == result


def test_the_table_shows_each_figure_and_the_verdicts():
    text = ui.table(assembled(list_page=list_page(450.0, 600.0)))
    assert "list /?tab=all (1000): first contentful paint" in text
    assert "table complete (1000 rows, next frame)" in text
    assert "server: GET /?tab=all (HTTP client)" in text
    assert "approval -> page: 1 of 2 — alice" in text and "approval -> page: State: Approved" in text
    assert "htmx delay (hx-trigger delay:300ms) 300" in text
    assert "first paint < 300 ms: MISSED (table complete: MISSED); approval -> page < 1000 ms: met" in text
    assert "1.0 / 1.5 on 2 CPUs; 20 runs" in text


def test_a_paged_list_says_how_many_of_the_requests_the_table_held():
    result = assembled(rows_shown=100)
    assert result["rows_shown"] == 100 and result["requests"] == 1000
    assert "table complete (100 of 1000 rows, next frame)" in ui.table(result)
    assert ui.PAGE_SIZE == 100


def test_a_missing_reading_prints_as_a_dash():
    page = list_page(100.0, 100.0)
    page["ttfb"] = figure(None, None)
    line = next(li for li in ui.table(assembled(list_page=page)).splitlines() if "first byte" in li)
    assert line.split()[-3:] == ["-", "-", "-"]


def test_the_sign_in_line_is_read_for_its_address_and_token():
    found = ui.OPEN.match("Open http://127.0.0.1:41234/?token=ab_C-9")
    assert found and found.groups() == ("http://127.0.0.1:41234/", "41234", "ab_C-9")
    assert not ui.OPEN.match("Open http://evil.example:41234/?token=ab")
