"""结业证书: a one-page PDF per learner who completed a campaign, drawn with fpdf2.

fpdf2 embeds a face of a TrueType collection (``collection_font_number``); Debian's
fonts-noto-cjk ships ``.ttc`` files whose Simplified Chinese face we look up by name so the
glyph shapes are the mainland ones, not the Japanese default face 0.

Numbers come from :mod:`grading.records.certs` (issue 16: issued once, unguessable) for every
way a certificate is made: the learner's own download, an administrator's unit archive and
``xuefa report certificates``. The QR code (segno) and the printed link lead to the public
verification page ``/hub/xuefa/verify/<number>`` on ``public_url`` (``$XUEFA_PUBLIC_URL``).
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
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
PUBLIC_URL_ENV = "XUEFA_PUBLIC_URL"


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


def verify_url(public_url: str | None, number: str) -> str:
    """The verification page of ``number`` on the platform's public address."""
    from grading.records.certs import VERIFY_PATH

    base = (public_url or os.environ.get(PUBLIC_URL_ENV) or "").rstrip("/")
    return base + VERIFY_PATH.format(number=number)


def _qr_png(url: str) -> io.BytesIO:
    import segno

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind="png", scale=8, border=2)
    buf.seek(0)
    return buf


def _texts(p: LearnerProgress, campaign: str, issuer: str, number: str,
           link: str = "") -> dict[str, str]:
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
        "verify": f"扫码或访问 {link} 查验" if link else "",
    }


def render(
    p: LearnerProgress,
    campaign: str,
    *,
    issuer: str = DEFAULT_ISSUER,
    number: str = "",
    font: tuple[str, int] | None = None,
    link: str = "",
) -> bytes:
    """The certificate of one completed learner as PDF bytes (``font``: from :func:`subset_font`;
    ``link``: the verification URL, drawn as a QR code and printed)."""
    if not p.complete:
        raise ValueError(f"{p.username} has not completed the campaign")
    t = _texts(p, campaign, issuer, number, link)
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
    if link:
        pdf.image(_qr_png(link), x=30, y=h - 75, w=32, h=32)
        pdf.set_font("cjk", size=8)
        pdf.set_xy(25, h - 29)
        pdf.cell(200, 5, t["verify"])
    return bytes(pdf.output())


def _render_batch(done: list[LearnerProgress], campaign: str, numbers: dict[str, str], *,
                  issuer: str, public_url: str | None, tmp: Path) -> dict[str, bytes]:
    links = {p.username: verify_url(public_url, numbers[p.username]) for p in done}
    chars = "".join(sorted({ch for p in done for v in _texts(
        p, campaign, issuer, numbers[p.username], links[p.username]).values() for ch in v}))
    font = subset_font(chars, tmp / "cjk-subset.otf") if done else None
    return {p.username: render(p, campaign, issuer=issuer, number=numbers[p.username], font=font,
                               link=links[p.username]) for p in done}


def learner_pdf(url: str, username: str, campaign_id: str, *, public_url: str | None = None,
                issuer: str = DEFAULT_ISSUER, client: str | None = None) -> tuple[str, bytes] | None:
    """(number, PDF) of ``username``'s own certificate, issued at this first download
    (audited with the learner as actor); None when they have not completed the campaign."""
    from grading.records import certs

    mine = completion.progress(url, campaign_id, [username])
    if not mine or not mine[0].complete:
        return None
    p = mine[0]
    info = certs.issue(url, p, campaign_id, actor=username, client=client)
    with tempfile.TemporaryDirectory(prefix="xuefa-font-") as tmp:
        pdf = _render_batch([p], info.campaign, {username: info.number}, issuer=issuer,
                            public_url=public_url, tmp=Path(tmp))[username]
    return info.number, pdf


def completed(url: str, campaign_id: str, *, unit_ids=None) -> list[LearnerProgress]:
    """Everyone who completed (on time or late), within ``unit_ids`` (a unit administrator's
    scope) when given."""
    from grading.records.db import session_scope
    from grading.records.models import Learner

    done = [p for p in completion.progress(url, campaign_id) if p.complete]
    if unit_ids is None:
        return done
    with session_scope(url) as s:
        from sqlalchemy import select

        allowed = set(s.scalars(select(Learner.username).where(Learner.unit_id.in_(sorted(unit_ids) or [-1]))))
    return [p for p in done if p.username in allowed]


def archive_bytes(url: str, campaign_id: str, *, unit_ids=None, public_url: str | None = None,
                  issuer: str = DEFAULT_ISSUER) -> tuple[int, bytes]:
    """(count, zip) of the certificates of everyone who completed within ``unit_ids``; members
    are ``<unit path>/<账号>-<姓名>.pdf`` with path separators in names replaced."""
    from grading.records import certs

    done = completed(url, campaign_id, unit_ids=unit_ids)
    infos = certs.issue_many(url, done, campaign_id) if done else {}
    camp = next(iter(infos.values())).campaign if infos else campaign_id
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory(prefix="xuefa-font-") as tmp:
        pdfs = _render_batch(done, camp, {u: i.number for u, i in infos.items()}, issuer=issuer,
                             public_url=public_url, tmp=Path(tmp))
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in done:
            safe = [_member_part(x) for x in p.unit_path.split("/")] + [_member_part(f"{p.username}-{p.name}") + ".pdf"]
            z.writestr("/".join(safe), pdfs[p.username])
    return len(done), buf.getvalue()


def _member_part(text: str) -> str:
    # zip member names come from clerks' typing: no separators, dots-only names or controls
    cleaned = "".join("_" if ch in '/\\:*?"<>|' or ord(ch) < 32 else ch for ch in text).strip(". ")
    return cleaned[:80] or "_"


def write_all(url: str, campaign_id: str, outdir: str | Path, *, issuer: str = DEFAULT_ISSUER,
              public_url: str | None = None, unit_ids=None) -> list[Path]:
    """One ``<username>.pdf`` per learner who completed (on time or late) into ``outdir``,
    numbered as everywhere else (:mod:`grading.records.certs`)."""
    from grading.records import certs
    from grading.records.db import get_engine

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with get_engine(url).connect() as conn:
        camp = completion.load_campaign(conn, campaign_id)
    done = completed(url, campaign_id, unit_ids=unit_ids)
    infos = certs.issue_many(url, done, campaign_id) if done else {}
    paths = []
    with tempfile.TemporaryDirectory(prefix="xuefa-font-") as tmp:
        pdfs = _render_batch(done, camp.name, {u: i.number for u, i in infos.items()}, issuer=issuer,
                             public_url=public_url, tmp=Path(tmp))
        for p in done:
            path = outdir / f"{p.username}.pdf"
            path.write_bytes(pdfs[p.username])
            paths.append(path)
    return paths
