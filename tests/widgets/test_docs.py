"""Every public name of the widgets package is documented in widgets/README.md."""

from pathlib import Path

import widgets as xf

README = (Path(__file__).resolve().parents[2] / "widgets" / "README.md").read_text(encoding="utf-8")


def test_public_api_is_documented():
    missing = [n for n in xf.__all__ if n not in README]
    assert not missing, f"undocumented in widgets/README.md: {missing}"
