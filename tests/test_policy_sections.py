"""Policy sections (``dipcore.policy.SECTIONS``): loading, checking, fingerprints."""
from dataclasses import fields

import pytest

import dipcore as dc
from dipcore.errors import InputError
from dipcore.policy import SECTIONS


def test_every_field_is_in_one_section():
    placed = [n for names in SECTIONS.values() for n in names]
    assert sorted(placed) == sorted(f.name for f in fields(dc.Policy))
    assert len(placed) == len(set(placed))


def test_a_toml_file_may_use_section_tables(tmp_path):
    flat = tmp_path / "flat.toml"
    flat.write_text("core_min_cases = 50\nhigh_ratio = 2.5\nreserve = 0.05\n")
    sectioned = tmp_path / "sections.toml"
    sectioned.write_text("[grouping]\ncore_min_cases = 50\n[points]\nhigh_ratio = 2.5\n"
                         "[settlement]\nreserve = 0.05\n")
    assert dc.Policy.load(flat) == dc.Policy.load(sectioned)


def test_a_key_under_the_wrong_section_is_named(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[points]\ncore_min_cases = 50\n")
    with pytest.raises(InputError, match=r"'core_min_cases' belongs to section \[grouping\]"):
        dc.Policy.load(bad)
    twice = tmp_path / "twice.toml"
    twice.write_text("high_ratio = 2.5\n[points]\nhigh_ratio = 3.0\n")
    with pytest.raises(InputError, match="'high_ratio' is given twice"):
        dc.Policy.load(twice)


def test_section_fingerprints_change_with_their_section_only():
    base = dc.Policy()
    changed = base.replace(high_ratio=2.5)
    a, b = base.section_fingerprints(), changed.section_fingerprints()
    assert a["points"] != b["points"]
    assert {k: v for k, v in a.items() if k != "points"} == \
        {k: v for k, v in b.items() if k != "points"}
    assert base.section("points")["high_ratio"] == 2.0
    with pytest.raises(InputError, match="no policy section 'prices'"):
        base.section("prices")


def test_a_dip_catalogue_depends_on_grouping_and_calibration():
    fields_ = dc.Policy().catalogue_fields("dip")
    assert fields_ == SECTIONS["grouping"] + SECTIONS["calibration"]
    base = dc.Policy()
    assert base.differences(base.replace(high_ratio=3.0, reserve=0.05)) == []
    assert base.differences(base.replace(core_min_cases=20)) == ["core_min_cases"]


def test_shipped_policies_still_load():
    for name in ("national", "shandong_example", "hubei_example"):
        assert isinstance(dc.Policy.builtin(name), dc.Policy)
