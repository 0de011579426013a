"""结业证书: a one-page PDF per learner who completed a campaign, drawn with fpdf2.

fpdf2 embeds a face of a TrueType collection (``collection_font_number``); Debian's
fonts-noto-cjk ships ``.ttc`` files whose Simplified Chinese face we look up by name so the
glyph shapes are the mainland ones, not the Japanese default face 0.
"""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path

from fpdf import FPDF

from grading.records import completion
from grading.records.completion import LearnerProgress

FONT_ENV = "XUEFA_CJK_FONT"
FONT_CANDIDATES = [
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
]
DEFAULT_ISSUER = "依法治市办公室"


class FontMissing(RuntimeError):
    pass


@lru_cache(maxsize=4)
def cjk_font() -> tuple[str, int]:
    """(path, face index) of an installed CJK font: ``$XUEFA_CJK_FONT`` first."""
    candidates = [os.environ[FONT_ENV]] if os.environ.get(FONT_ENV) else []
    for path in candidates + FONT_CANDIDATES:
        if Path(path).is_file():
            return path, _simplified_face(path)
    raise FontMissing(
        "no CJK font found: install the Debian package fonts-noto-cjk or set " + FONT_ENV
    )


def _simplified_face(path: str) -> int:
    if not path.endswith(".ttc"):
        return 0
    from fontTools.ttLib import TTCollection

    for i, font in enumerate(TTCollection(path, lazy=True).fonts):
        family = font["name"].getDebugName(1) or ""
        if family.endswith(" SC"):
            return i
    return 0


def subset_font(text: str, dest: Path) -> tuple[str, int]:
    """The CJK face cut down to the characters of ``text``, saved at ``dest``.

    Loading the whole 20 MB collection costs fpdf2 ~0.4 s per PDF; a batch of thousands of
    certificates loads one small subset instead."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    path, index = cjk_font()
    font = TTFont(path, fontNumber=index)
    opts = subset.Options()
    opts.name_IDs = ["*"]
    opts.notdef_outline = True
    opts.layout_features = []
    sub = subset.Subsetter(opts)
    sub.populate(text=text + " 0123456789")
    sub.subset(font)
    font.save(str(dest))
    return str(dest), 0


class Certificate(FPDF):
    def __init__(self, font: tuple[str, int] | None = None) -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        path, index = font or cjk_font()
        self.add_font("cjk", fname=path, collection_font_number=index)
        self.set_auto_page_break(False)


def _texts(p: LearnerProgress, campaign: str, issuer: str, number: str) -> dict[str, str]:
    done = p.completed_at.strftime("%Y年%m月%d日") if p.completed_at else ""
    courses = "、".join(f"《{c}》" for c in p.passed_courses)
    return {
        "title": "结 业 证 书",
        "to": f"{p.name} 同志：",
        "body": (
            f"    你在“{campaign}”中完成了全部必修课程的学习并通过考核，"
            f"获得学时 {p.hours:g} 学时。所学课程：{courses}。\n    特发此证。"
        ),
        "issuer": issuer,
        "date": done,
        "footer": f"证书编号：{number or p.username}    单位：{p.unit_path}",
    }


def render(
    p: LearnerProgress,
    campaign: str,
    *,
    issuer: str = DEFAULT_ISSUER,
    number: str = "",
    font: tuple[str, int] | None = None,
) -> bytes:
    """The certificate of one completed learner as PDF bytes (``font``: from :func:`subset_font`)."""
    if not p.complete:
        raise ValueError(f"{p.username} has not completed the campaign")
    t = _texts(p, campaign, issuer, number)
    pdf = Certificate(font)
    pdf.set_title(f"结业证书 {p.name}")
    pdf.set_subject(campaign)
    pdf.add_page()
    w, h = pdf.w, pdf.h
    pdf.set_draw_color(180, 30, 30)
    pdf.set_line_width(2)
    pdf.rect(10, 10, w - 20, h - 20)
    pdf.set_line_width(0.5)
    pdf.rect(15, 15, w - 30, h - 30)

    pdf.set_text_color(180, 30, 30)
    pdf.set_font("cjk", size=40)
    pdf.set_xy(0, 35)
    pdf.cell(w, 20, t["title"], align="C")

    pdf.set_text_color(20, 20, 20)
    pdf.set_font("cjk", size=20)
    pdf.set_xy(35, 75)
    pdf.cell(w - 70, 12, t["to"])
    pdf.set_font("cjk", size=16)
    pdf.set_xy(35, 92)
    pdf.multi_cell(w - 70, 10, t["body"])

    pdf.set_font("cjk", size=14)
    pdf.set_xy(w - 130, h - 62)
    pdf.cell(95, 9, t["issuer"], align="R")
    pdf.set_xy(w - 130, h - 52)
    pdf.cell(95, 9, t["date"], align="R")
    pdf.set_font("cjk", size=10)
    pdf.set_text_color(110, 110, 110)
    pdf.set_xy(25, h - 35)
    pdf.cell(150, 6, t["footer"])
    return bytes(pdf.output())


def write_all(url: str, campaign_id: str, outdir: str | Path, *, issuer: str = DEFAULT_ISSUER) -> list[Path]:
    """One ``<username>.pdf`` per learner who completed (on time or late) into ``outdir``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    everyone = completion.progress(url, campaign_id)
    from grading.records.db import get_engine

    with get_engine(url).connect() as conn:
        camp = completion.load_campaign(conn, campaign_id)
    done = [p for p in everyone if p.complete]
    numbers = {p.username: f"{campaign_id}-{p.username}" for p in done}
    chars = "".join(sorted({ch for p in done for v in _texts(p, camp.name, issuer, numbers[p.username]).values() for ch in v}))
    paths = []
    with tempfile.TemporaryDirectory(prefix="xuefa-font-") as tmp:
        font = subset_font(chars, Path(tmp) / "cjk-subset.otf") if done else None
        for p in done:
            path = outdir / f"{p.username}.pdf"
            path.write_bytes(render(p, camp.name, issuer=issuer, number=numbers[p.username], font=font))
            paths.append(path)
    return paths
