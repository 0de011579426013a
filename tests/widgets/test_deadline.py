"""法定期限计算器: start day not counted, months by corresponding day, holidays roll over."""

from __future__ import annotations

from datetime import date

import widgets as xf
from widgets.deadline import compute


def test_review_sixty_days():
    d = compute("review", date(2026, 3, 2))  # Monday
    assert d.nominal_end == date(2026, 5, 1)  # 60 days, start day not counted
    # 5.1-5.2 劳动节, 5.3 Sunday -> first working day after
    assert d.end == date(2026, 5, 4)
    assert "第二十条" in d.matter.basis


def test_review_plain_weekday():
    d = compute("review", date(2026, 1, 5))
    assert d.end == d.nominal_end == date(2026, 3, 6)  # a Friday


def test_litigation_six_months_and_month_end():
    assert compute("litigation", date(2026, 3, 16)).nominal_end == date(2026, 9, 16)
    d = compute("litigation", date(2026, 8, 31))
    assert d.nominal_end == date(2027, 2, 28)  # no 31st: the month's last day
    assert d.end == date(2027, 3, 1)  # 2027-02-28 is a Sunday
    assert "第四十六条" in d.matter.basis


def test_confirmation_thirty_days_weekend_rolls_over():
    d = compute("confirmation", date(2026, 10, 2))
    assert d.nominal_end == date(2026, 11, 1)  # Sunday
    assert d.end == date(2026, 11, 2)
    assert "第三十三条" in d.matter.basis


def test_extra_holidays_and_workdays():
    d = compute("confirmation", date(2026, 1, 7), holidays={date(2026, 2, 6)})
    assert d.nominal_end == date(2026, 2, 6) and d.end == date(2026, 2, 9)
    sat = compute("confirmation", date(2026, 1, 1), workdays={date(2026, 1, 31)})
    assert sat.end == date(2026, 1, 31)  # a Saturday made a working day (调休)


def test_widget_cites_rules():
    w = xf.DeadlineCalculator()
    w.matter.value = "litigation"
    w.start.value = date(2026, 3, 16)
    assert "2026年09月16日" in w.result.value
    assert "第八十五条" in w.result.value and "第一百零一条" in w.result.value
    w.start.value = None
    assert "请选择起算日" in w.result.value
