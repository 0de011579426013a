"""法定期限计算器: statutory deadlines learners meet in practice, computed by the period
rules of the Civil Procedure Law (applied to administrative review and litigation by
行政复议法第八十八条 and 行政诉讼法第一百零一条):

* the day the period starts is not counted (期间开始的日不计算在期间内);
* a period in months ends on the corresponding day of the last month, or that month's last
  day when it has no such day;
* a period whose last day is a statutory holiday ends on the first day after the holiday
  (期间届满的最后一日是法定休假日的，以法定休假日后的第一日为期间届满的日期) — weekends
  and the fixed-date national holidays here; lunar holidays and 调休 change every year and
  are passed in as ``holidays``.
"""

from __future__ import annotations

import calendar
import html
from dataclasses import dataclass
from datetime import date, timedelta

import ipywidgets as W

PERIOD_RULE = ("《中华人民共和国民事诉讼法》第八十五条：期间开始的日，不计算在期间内；"
               "期间届满的最后一日是法定休假日的，以法定休假日后的第一日为期间届满的日期。")


@dataclass(frozen=True)
class Matter:
    code: str
    label: str
    start_label: str
    days: int = 0
    months: int = 0
    basis: str = ""
    applies: str = ""  # why the period rules above apply


MATTERS = {
    "review": Matter("review", "申请行政复议", "知道或者应当知道该行政行为之日", days=60,
                     basis="《中华人民共和国行政复议法》（2023年修订）第二十条：公民、法人或者其他组织"
                           "认为行政行为侵犯其合法权益的，可以自知道或者应当知道该行政行为之日起六十日内"
                           "提出行政复议申请；但是法律规定的申请期限超过六十日的除外。",
                     applies="《中华人民共和国行政复议法》第八十八条：期间计算依照民事诉讼法关于期间的规定执行。"),
    "litigation": Matter("litigation", "提起行政诉讼（直接起诉）", "知道或者应当知道作出行政行为之日",
                         months=6,
                         basis="《中华人民共和国行政诉讼法》第四十六条：公民、法人或者其他组织直接向人民法院"
                               "提起诉讼的，应当自知道或者应当知道作出行政行为之日起六个月内提出。"
                               "法律另有规定的除外。",
                         applies="《中华人民共和国行政诉讼法》第一百零一条：期间适用民事诉讼法的相关规定。"),
    "confirmation": Matter("confirmation", "申请司法确认人民调解协议", "调解协议生效之日", days=30,
                           basis="《中华人民共和国人民调解法》第三十三条：经人民调解委员会调解达成调解协议后，"
                                 "双方当事人认为有必要的，可以自调解协议生效之日起三十日内共同向人民法院"
                                 "申请司法确认。",
                           applies="司法确认属民事非讼程序，期间直接适用民事诉讼法。"),
}

# Fixed-date statutory holidays (全国年节及纪念日放假办法, 2025): 元旦, 劳动节 5.1-5.2, 国庆 10.1-10.3.
FIXED_HOLIDAYS = {(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)}


def is_rest_day(d: date, holidays: frozenset[date] = frozenset(),
                workdays: frozenset[date] = frozenset()) -> bool:
    if d in workdays:  # 调休上班日
        return False
    return d.weekday() >= 5 or (d.month, d.day) in FIXED_HOLIDAYS or d in holidays


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    y, m = d.year + y, m + 1
    return date(y, m, min(d.day, calendar.monthrange(y, m)[1]))


@dataclass
class Deadline:
    matter: Matter
    start: date
    nominal_end: date  # before the holiday rule
    end: date
    steps: list[str]


def compute(code: str, start: date, holidays=frozenset(), workdays=frozenset()) -> Deadline:
    m = MATTERS[code]
    steps = [f"起算：{start:%Y年%m月%d日}（{m.start_label}）当日不计入，自次日起算。"]
    if m.days:
        nominal = start + timedelta(days=m.days)
        steps.append(f"{m.days}日期间的最后一日：{nominal:%Y年%m月%d日}。")
    else:
        nominal = add_months(start, m.months)
        steps.append(f"{m.months}个月期间届满于对应日：{nominal:%Y年%m月%d日}"
                     "（该月无对应日的，为该月最后一日）。")
    end = nominal
    while is_rest_day(end, frozenset(holidays), frozenset(workdays)):
        end += timedelta(days=1)
    if end != nominal:
        steps.append(f"最后一日为法定休假日，顺延至休假日后的第一日：{end:%Y年%m月%d日}。")
    return Deadline(m, start, nominal, end, steps)


class DeadlineCalculator(W.VBox):
    """法定期限计算器 widget: pick a matter and the start date, read the last day and why."""

    def __init__(self, holidays=(), workdays=(), **kw):
        self.holidays, self.workdays = frozenset(holidays), frozenset(workdays)
        full = W.Layout(width="100%")
        self.matter = W.Dropdown(options=[(m.label, c) for c, m in MATTERS.items()],
                                 description="事项", layout=full)
        self.start = W.DatePicker(description="起算日", value=date.today(), layout=full)
        self.result = W.HTML(layout=full)
        self.matter.observe(self._update, "value")
        self.start.observe(self._update, "value")
        title = W.HTML("<b>法定期限计算器</b><br><span style='color:#666'>选择事项和起算日，"
                       "查看期限届满日及计算依据。</span>", layout=full)
        super().__init__([title, self.matter, self.start, self.result],
                         layout=W.Layout(width="100%", border="1px solid #ddd", padding="8px"), **kw)
        self._update()

    def _update(self, _change=None) -> None:
        if self.start.value is None:
            self.result.value = "<span style='color:#c60'>请选择起算日。</span>"
            return
        d = compute(self.matter.value, self.start.value, self.holidays, self.workdays)
        esc = html.escape
        self.result.value = (
            "<div role='status' style='white-space:normal'>"
            f"<p><b>期限届满日：{d.end:%Y年%m月%d日}</b>（星期{'一二三四五六日'[d.end.weekday()]}）</p>"
            + "".join(f"<p>{esc(s)}</p>" for s in d.steps)
            + f"<p><b>法律依据：</b>{esc(d.matter.basis)}</p>"
            f"<p><b>期间计算：</b>{esc(PERIOD_RULE)}{esc(d.matter.applies)}</p>"
            "<p style='color:#888;font-size:90%'>本计算器按周末和元旦、劳动节、国庆节法定假日顺延；"
            "春节、清明、端午、中秋等假日及调休以国务院办公厅当年通知为准，请核对。"
            "特别法另有规定或存在期限中止、中断等情形的，以法律规定为准。</p></div>")
