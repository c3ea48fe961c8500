"""Policy sections (``dipcore.policy.SECTIONS``): loading, checking, fingerprints."""
import re
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


@pytest.mark.parametrize("name, value, message", [
    # types: each field as its annotation says, or one line naming it
    ("bed_day_rates", {"psychiatric": "x"}, "must be a table of numbers"),
    ("level_coefficients", [1, 2], "must be a table of numbers"),
    ("bed_day_rates", 5, "must be a table of numbers"),
    ("ungrouped_discount", "x", "must be a number"),
    ("special_quota", "x", "must be a number"),
    ("bed_day_cap", "x", "must be a whole number or absent"),
    ("core_min_cases", 1.5, "must be a whole number"),
    ("core_min_cases", True, "must be a whole number"),
    ("procedure_prefix", "x", "must be a whole number or absent"),
    ("extra_exclusions", [1, 2], "must be a list of texts"),
    ("coefficients_on_outliers", "no", "must be true or false"),
    ("low_inclusive", "false", "must be true or false"),
    ("reference_group", 5, "must be a text or absent"),
    ("trim_low", float("inf"), "must be a number"),
    # ranges
    ("level_coefficients", {"1": -1.0}, "'level_coefficients' of '1' must be positive"),
    ("fixed_point_value", {"employee": -5.0}, "'fixed_point_value' of 'employee' must be positive"),
    ("ungrouped_discount", -1.0, "'ungrouped_discount' must be in [0, 1]"),
    ("special_quota", 2.0, "'special_quota' must be in [0, 1]"),
    ("elastic_base_share", 5.0, "'elastic_base_share' must be in [0, 1]"),
    ("surplus_cap", -0.5, "'surplus_cap' must not be negative"),
    ("elastic_ceiling", -1.0, "'elastic_ceiling' must be positive"),
    ("procedure_prefix", -1, "'procedure_prefix' must be positive"),
    ("trim_low", 99.0, "0 <= trim_low < trim_high <= 100"),
    ("icu_bands", [], "'icu_bands' must be increasing"),
    ("icu_bands", [3, 1], "'icu_bands' must be increasing"),
    ("icu_bands", ["a"], "must be a list of whole numbers"),
])
def test_a_policy_value_of_the_wrong_type_or_range_is_named(name, value, message):
    """A value that would crash a run later, or settle with a wrong rule, stops where the
    policy is made: from a mapping (a TOML file, a sweep variant) and from the constructor."""
    with pytest.raises(InputError, match=re.escape(message)):
        dc.Policy.from_dict({name: value})
    with pytest.raises(InputError, match=re.escape(message)):
        dc.Policy(**{name: value})


def test_policy_numbers_from_a_mapping_keep_their_fingerprint():
    """Integer values of the coefficient tables become floats, as they always did, so a
    policy written with ``1`` or ``1.0`` has one fingerprint."""
    a = dc.Policy.from_dict({"level_coefficients": {"1": 1, "2": 2}})
    b = dc.Policy.from_dict({"level_coefficients": {1: 1.0, "2": 2.0}})
    assert a.level_coefficients == {"1": 1.0, "2": 2.0} and a.fingerprint() == b.fingerprint()


def test_a_policy_path_that_is_a_directory_is_named(tmp_path):
    with pytest.raises(InputError, match=re.escape(f"{tmp_path}: cannot read the policy file")):
        dc.Policy.load(tmp_path)


def test_whole_numbers_written_with_a_decimal_point_are_whole_numbers():
    """``bed_day_cap = 60.0`` in a file is 60 days, as it was before whole-number fields
    were checked; ``1.5`` cases is an error naming the field."""
    assert dc.Policy.from_dict({"bed_day_cap": 60.0, "core_min_cases": 15.0}) == \
        dc.Policy(bed_day_cap=60, core_min_cases=15)
    with pytest.raises(InputError, match="policy 'core_min_cases' must be a whole number"):
        dc.Policy.from_dict({"core_min_cases": 1.5})
