"""Each court's intake measured from a real decision log, and how the follower publishes it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from features.record import example_case
from models.review_capacity import CourtIntake
from serving.decision_log import DecisionIds, DecisionLog, build_rows
from serving.intake import measure_intake


def prefill(
    log: DecisionLog, court: str, per_day: int, days: int, today: dt.date, *, repeat: int = 0
) -> None:
    """``per_day`` new cases of ``court`` decided on each of the ``days`` days before ``today``.

    ``repeat`` of each day's cases are decided a second time (a retry): still one case each.
    """
    ids = DecisionIds()
    for back in range(1, days + 1):
        day = today - dt.timedelta(days=back)
        cases = [
            dict(example_case(), case_id=f"{court}-{day}-{i}", court_id=court, province=court[:2])
            for i in range(per_day)
        ]
        cases += cases[:repeat]
        new_ids, _ = ids.next(len(cases))
        log.write(
            build_rows(
                ids=new_ids,
                decided_at=f"{day.isoformat()}T09:30:00.000Z",
                cases=cases,
                p_complex=[0.5] * len(cases),
                p_assets=[0.5] * len(cases),
                streams=["review"] * len(cases),
                reasons_json=['{"complex": [], "assets": []}'] * len(cases),
                stream_model=("triage-stream", "1"),
                assets_model=("triage-assets", "1"),
                shadow=None,
                source="batch",
            )
        )


def test_intake_counts_distinct_cases_of_whole_days_before_today(tmp_path: Path):
    log = DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}").create()
    today = dt.date(2026, 12, 5)
    prefill(log, "440305", 12, 40, today, repeat=3)  # older than the window too, retries
    prefill(log, "110101", 5, 10, today)  # joined ten days ago
    prefill(log, "320102", 9, 3, today)  # three days: too little history
    prefill(log, "330106", 50, 1, today + dt.timedelta(days=1))  # today: not a whole day yet
    try:
        intake = measure_intake(log, today)
    finally:
        log.close()
    assert (intake.window_from, intake.window_through) == ("2026-11-07", "2026-12-04")
    assert intake.cases == {"440305": 12 * 28, "110101": 50, "320102": 27}
    assert intake.per_day("440305") == 12.0 and intake.per_day("110101") == 5.0
    assert intake.per_day("320102") is None and intake.per_day("330106") is None


def test_the_follower_measures_intake_only_for_per_day_policies_and_republishes_on_change(
    tmp_path,
):
    from app.settings import get_settings
    from serving.follower import Follower, RegistryLook
    from serving.served_pointer import publish, read
    from tests.serving.test_live_models import Registry, _policy_tag, pointer

    held = Registry()
    tags = dict([_policy_tag("440305", 0.2, 1)])
    measured: list[CourtIntake] = []
    intakes = [
        CourtIntake("2026-11-07", "2026-12-04", "t1", {"440305": 280}, {"440305": 28}),
        CourtIntake("2026-11-07", "2026-12-04", "t2", {"440305": 280}, {"440305": 28}),
        CourtIntake("2026-11-08", "2026-12-05", "t3", {"440305": 560}, {"440305": 28}),
    ]

    def measure() -> CourtIntake:
        if not intakes:
            raise OSError("the log is locked")
        measured.append(intakes.pop(0))
        return measured[-1]

    now = [0.0]
    path = tmp_path / "served-models.json"
    follower = Follower(
        get_settings(),
        path,
        look=lambda settings: RegistryLook(held.view(settings), dict(tags)),
        resolve=held.resolve,
        import_set=held.import_set,
        measure=measure,
        clock=lambda: now[0],
    )
    publish(path, pointer(held.import_set(held.resolve(None)), registry=held.view(None)))
    assert follower.follow_once() == "policies"
    assert read(path).intake is None and measured == []  # no policy counts in cases per day

    key, value = _policy_tag("440305", 0.2, 2)
    tags[key] = value.replace('"review_per_day": null', '"review_per_day": 30.0')
    assert '"review_per_day": 30.0' in tags[key]
    assert follower.follow_once() == "policies"
    assert read(path).intake["courts"]["440305"]["per_day"] == 10.0 and len(measured) == 1
    assert follower.follow_once() == "unchanged" and len(measured) == 1  # not every poll

    refresh = get_settings().intake_refresh_seconds
    now[0] += refresh
    assert follower.follow_once() == "unchanged" and len(measured) == 2  # same numbers
    now[0] += refresh
    assert follower.follow_once() == "policies"
    assert read(path).intake["courts"]["440305"]["per_day"] == 20.0
    now[0] += refresh
    assert follower.follow_once() == "unchanged"  # a failed measurement: the last one holds
    assert read(path).intake["window_through"] == "2026-12-05"

    # The worker routes by it: its book carries the intake.
    from serving.policies import ServedPolicies

    served = ServedPolicies.of(read(path))
    assert served.book.intake is not None and served.book.intake.per_day("440305") == 20.0
    assert served.info()["intake"]["window_through"] == "2026-12-05"
