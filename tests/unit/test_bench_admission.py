"""The admission-cost benchmark reads its typical objects, and reports per kind."""

from __future__ import annotations

from bench import admission


def test_the_typical_objects_read_and_every_kind_is_measured():
    figures = admission.run(iterations=5)
    assert set(figures) == {"AccessRequest", "AccessReview", "AccessPolicy"}
    for row in figures.values():
        assert row["iterations"] == 5 and 0 < row["p50_us"] <= row["p99_us"]
    assert admission.values.review(admission.REVIEW, admission.REQUEST["metadata"]["uid"]) is not None
