"""System accounts belong to one platform: two data dirs on one host never share an account
(with one ``xf-learner1`` for both, learner1 of one platform ran with the uid that owns
learner1's submissions on the other)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grading.host import sysusers
from grading.host.sandbox import grader_username


def test_two_new_data_dirs_get_different_prefixes(tmp_path, monkeypatch):
    monkeypatch.delenv(sysusers.PREFIX_VAR, raising=False)
    a, b = tmp_path / "a" / "data", tmp_path / "b" / "data"
    for d in (a, b):
        (d / "hub").mkdir(parents=True)
    pa, pb = sysusers.user_prefix(a), sysusers.user_prefix(b)
    assert pa != pb
    assert sysusers.PREFIX_RE.match(pa) and sysusers.PREFIX_RE.match(pb)
    assert sysusers.system_username("learner1", pa) != sysusers.system_username("learner1", pb)
    # the grader account is per platform too, and never a person's account name
    assert grader_username(a) != grader_username(b)
    assert not grader_username(a).startswith((pa, pb, sysusers.LEGACY_PREFIX))


def test_the_default_data_dir_keeps_its_accounts(monkeypatch):
    monkeypatch.delenv(sysusers.PREFIX_VAR, raising=False)
    monkeypatch.setattr(sysusers, "is_root", lambda: False)  # read only: record nothing
    assert sysusers.user_prefix(Path("/var/lib/xuefa")) == sysusers.LEGACY_PREFIX


def test_a_prefix_once_chosen_does_not_change(tmp_path, monkeypatch):
    monkeypatch.delenv(sysusers.PREFIX_VAR, raising=False)
    root = tmp_path / "data"
    (root / "hub").mkdir(parents=True)
    (root / "hub" / sysusers.PREFIX_FILE).write_text("xfcity-\n", encoding="ascii")
    assert sysusers.user_prefix(root) == "xfcity-"


@pytest.mark.parametrize("bad", ["XF-", "xf", "../", "xf-a-b-c-d-e-", "x f-"])
def test_an_operator_prefix_must_be_a_plain_account_prefix(tmp_path, monkeypatch, bad):
    monkeypatch.setenv(sysusers.PREFIX_VAR, bad)
    with pytest.raises(ValueError):
        sysusers.user_prefix(tmp_path)
