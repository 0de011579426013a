"""Chart and table helpers for the administrators' dashboards (Voila notebooks).

They take plain pandas frames / dicts and return HTML or widgets; they know nothing about the
records DB (the dashboards get their numbers from ``grading.reports.queries``). Figures and tables are
emitted as HTML so Voila renders them on the server: the page shows the numbers before any
widget JavaScript has loaded, and tests can read them from the HTML.

Charts go out as plotly's mime type (:func:`show`): Voila draws them with the jupyterlab-plotly
extension, nothing is fetched from a CDN.
"""

from __future__ import annotations

import base64
import html
import uuid
from typing import Iterable

import pandas as pd

BRAND = "#c00000"
FONT = "'Noto Sans CJK SC', 'Microsoft YaHei', 'PingFang SC', sans-serif"

STYLE = f"""
<style>
.xf-page {{ font-family: {FONT}; color: #222; }}
.xf-cards {{ display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 16px; }}
.xf-card {{ border: 1px solid #eee; border-top: 4px solid {BRAND}; border-radius: 6px; padding: 10px 16px;
           min-width: 120px; background: #fff; box-shadow: 0 1px 3px rgba(0,0,0,.06); }}
.xf-card .v {{ font-size: 26px; font-weight: 600; }}
.xf-card .k {{ font-size: 13px; color: #666; }}
.xf-card .s {{ font-size: 12px; color: #999; }}
/* wide tables scroll inside their box on a phone instead of widening the page */
.xf-scroll {{ overflow-x: auto; max-width: 100%; -webkit-overflow-scrolling: touch; }}
table.xf-table {{ border-collapse: collapse; font-family: {FONT}; font-size: 13px; }}
table.xf-table th {{ background: {BRAND}; color: #fff; padding: 6px 10px; cursor: pointer; white-space: nowrap; }}
table.xf-table td {{ border-bottom: 1px solid #eee; padding: 5px 10px; text-align: right; }}
table.xf-table td.t {{ text-align: left; white-space: nowrap; }}
table.xf-table tr:hover td {{ background: #fff5f5; }}
.xf-note {{ color: #888; font-size: 12px; }}
</style>
"""

# Click a header to sort; numbers sort numerically (percent signs ignored).
_SORT_JS = """
<script>
(function(){
  var t = document.getElementById('%s'); if (!t) return;
  t.querySelectorAll('th').forEach(function(th, i){
    th.addEventListener('click', function(){
      var body = t.tBodies[0], rows = Array.from(body.rows), asc = th.dataset.asc !== '1';
      t.querySelectorAll('th').forEach(function(h){ h.dataset.asc = ''; });
      th.dataset.asc = asc ? '1' : '0';
      var val = function(r){ var s = r.cells[i].dataset.v || r.cells[i].innerText;
                             var n = parseFloat(s.replace('%%','')); return isNaN(n) ? s : n; };
      rows.sort(function(a, b){ var x = val(a), y = val(b);
        return (x > y ? 1 : x < y ? -1 : 0) * (asc ? 1 : -1); });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
})();
</script>
"""


def pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def cards_html(items: Iterable[tuple[str, str, str]]) -> str:
    """KPI cards: (label, value, small print) each."""
    out = [STYLE, '<div class="xf-page"><div class="xf-cards">']
    for label, value, sub in items:
        out.append(
            f'<div class="xf-card"><div class="k">{html.escape(str(label))}</div>'
            f'<div class="v">{html.escape(str(value))}</div><div class="s">{html.escape(str(sub))}</div></div>'
        )
    out.append("</div></div>")
    return "".join(out)


def table_html(
    df: pd.DataFrame,
    labels: dict[str, str] | None = None,
    *,
    rates: Iterable[str] = (),
    text_cols: Iterable[str] = (),
    max_rows: int | None = None,
    sortable: bool = True,
) -> str:
    """An HTML table with Chinese headers; ``rates`` columns shown as percentages."""
    labels = labels or {}
    rates, text_cols = set(rates), set(text_cols)
    tid = f"xf-{uuid.uuid4().hex[:8]}"
    shown = df if max_rows is None else df.head(max_rows)
    out = [STYLE, f'<div class="xf-scroll"><table class="xf-table" id="{tid}"><thead><tr>']
    # every value shown is escaped: unit and person names come from the roster spreadsheet
    out += [f"<th>{html.escape(labels.get(c, str(c)))}</th>" for c in df.columns]
    out.append("</tr></thead><tbody>")
    for row in shown.itertuples(index=False):
        out.append("<tr>")
        for c, v in zip(df.columns, row):
            # NaT (a 完成时间 column with someone not complete yet) is missing too, not a datetime
            if v is None or v is pd.NaT or (isinstance(v, float) and pd.isna(v)):
                text, raw = "", ""
            elif c in rates:
                text, raw = pct(float(v)), f"{float(v):.6f}"
            elif isinstance(v, bool):
                text, raw = ("是" if v else "否"), ""
            elif isinstance(v, float):
                text, raw = f"{v:g}", f"{v}"
            elif hasattr(v, "strftime"):
                text, raw = v.strftime("%Y-%m-%d %H:%M") if hasattr(v, "hour") else v.strftime("%Y-%m-%d"), ""
            else:
                text, raw = str(v), ""
            cls = ' class="t"' if c in text_cols or not isinstance(v, (int, float)) else ""
            dv = f' data-v="{html.escape(raw)}"' if raw else ""
            out.append(f"<td{cls}{dv}>{html.escape(text)}</td>")
        out.append("</tr>")
    out.append("</tbody></table></div>")
    if max_rows is not None and len(df) > max_rows:
        out.append(f'<p class="xf-note">仅显示前 {max_rows} 行，共 {len(df)} 行；完整名单请下载 Excel。</p>')
    if sortable:
        out.append(_SORT_JS % tid)
    return "".join(out)


def show(fig) -> None:
    """Display a plotly figure through the plotly mime type, drawn in the page by the
    jupyterlab-plotly extension Voila loads (no plotly.js script tags, no CDN)."""
    from IPython.display import display

    fig.update_layout(font_family=FONT, template="plotly_white", margin=dict(l=40, r=20, t=50, b=40))
    display({"application/vnd.plotly.v1+json": fig.to_plotly_json(), "text/plain": fig.layout.title.text or ""},
            raw=True)


def bar_by_unit(df: pd.DataFrame, *, unit_col="unit", rate_col="completion_rate", title="各单位完成率"):
    import plotly.graph_objects as go

    d = df.sort_values(rate_col)
    fig = go.Figure(go.Bar(
        x=d[rate_col] * 100, y=d[unit_col], orientation="h", marker_color=BRAND,
        text=[pct(v) for v in d[rate_col]], textposition="outside",
    ))
    fig.update_layout(title=title, xaxis_title="%", height=max(300, 24 * len(d) + 100), xaxis_range=[0, 110])
    return fig


def trend_chart(df: pd.DataFrame, *, title="每日完成情况"):
    """Bars: completions per day; line: cumulative completion rate (right axis)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_bar(x=df["date"], y=df["completions"], name="当日完成人数", marker_color=BRAND)
    fig.add_bar(x=df["date"], y=df["course_passes"], name="当日课程合格人次", marker_color="#f4b183")
    fig.add_scatter(x=df["date"], y=df["cumulative_rate"] * 100, name="累计完成率(%)", yaxis="y2",
                    mode="lines+markers", line_color="#1f4e79")
    fig.update_layout(title=title, barmode="group", height=420,
                      yaxis=dict(title="人数"), yaxis2=dict(title="%", overlaying="y", side="right", range=[0, 100]),
                      legend=dict(orientation="h", y=-0.2))
    return fig


def heatmap(df: pd.DataFrame, *, title: str):
    """Share correct, rows × units (a pivot from ``grading.reports.queries.item_analysis``)."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Heatmap(
        z=(df.values * 100).round(1), x=list(df.columns), y=list(df.index), colorscale="RdYlGn",
        zmin=0, zmax=100, colorbar=dict(title="正确率%"),
    ))
    fig.update_layout(title=title, height=max(320, 22 * len(df) + 140))
    return fig


def download_link(data: bytes, filename: str, label: str = "下载") -> str:
    """An <a download> link carrying the file (no server round trip, works behind the hub proxy)."""
    b64 = base64.b64encode(data).decode()
    mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return (f'<a class="xf-download" download="{html.escape(filename)}" href="data:{mime};base64,{b64}" '
            f'style="color:#fff;background:{BRAND};padding:6px 14px;border-radius:4px;text-decoration:none">'
            f"{html.escape(label)} {html.escape(filename)}</a>")


def excel_button(make_bytes, filename: str):
    """A button that builds the workbook on click and offers it as a download link."""
    import ipywidgets as w
    from IPython.display import HTML, display

    button = w.Button(description="生成 Excel 报表", icon="download", button_style="danger",
                      layout=w.Layout(width="180px"))
    out = w.Output()

    def build(_):
        button.disabled = True
        button.description = "正在生成…"
        out.clear_output()
        with out:
            display(HTML(download_link(make_bytes(), filename)))
        button.description = "重新生成"
        button.disabled = False

    button.on_click(build)
    return w.VBox([button, out])
