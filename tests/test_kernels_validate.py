"""Validation kernels (dipcore._kernels.validate) against tests/naive.py."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import naive
from dipcore._kernels.validate import (CheckLimits, RowColumns, encode_lists,
                                       first_failed_check, take_lists)
from dipcore.ingest.checks import CHECKS

status = st.sampled_from([0, 0, 0, 0, 1, 2, 3])
money_status = st.sampled_from([0, 0, 0, 1, 2, 3, 4])
row_st = st.fixed_dictionaries({
    "pre": st.sampled_from([-1, -1, -1, -1, 1003]),
    "case_blank": st.sampled_from([0, 0, 0, 1]), "dup": st.sampled_from([0, 0, 0, 1]),
    "hosp": st.sampled_from([0, 3, -1]), "reg_level": st.sampled_from([0, 1, 2, 3]),
    "level": st.sampled_from([1, 2, 3, 0, 4, -7]), "level_st": status,
    "pool": st.sampled_from([0, 1, -1, -2]),
    "adm": st.integers(19000, 19010), "adm_st": status,
    "dis": st.integers(19000, 19010), "dis_st": status,
    "age": st.sampled_from([0, 54, 130, 131, -1]), "age_st": status,
    "agd": st.sampled_from([0, 28, 365, 366, -3]), "agd_st": status,
    "sex": st.sampled_from([0, 1, 2, 9, 3]), "sex_st": status,
    "wt": st.sampled_from([0, 1, 3000, 10_000, 10_001]), "wt_st": status,
    "dx": st.sampled_from([5, 5, -1, -2]), "sec_bad": st.sampled_from([0, 0, 1]),
    "proc_bad": st.sampled_from([0, 0, 1]),
    "tot": st.sampled_from([100, 0, -5, 10**11, 10**11 - 1]), "tot_st": money_status,
    "fund": st.sampled_from([50, 0, -1, 200, 10**11]), "fund_st": money_status,
    "way": st.sampled_from([1, 5, 9, 6, 0]), "way_st": status,
    "bed": st.sampled_from([-1, 0, 2, -2]),
    "icu": st.sampled_from([0, 10_000, 10_001, -1]), "icu_st": status,
})


@given(st.lists(row_st, min_size=1, max_size=40), st.booleans(), st.booleans())
def test_first_failed_check_matches_reference(rows, registry, has_level):
    def col(name, dtype):
        return np.array([r[name] for r in rows], dtype)
    u8 = np.uint8
    check, level, sex = first_failed_check(RowColumns(
        pre=col("pre", np.int16), case_blank=col("case_blank", u8), dup=col("dup", u8),
        hosp=col("hosp", np.int32), reg_level=col("reg_level", np.int64),
        level_v=col("level", np.int8), level_st=col("level_st", u8), pool=col("pool", np.int32),
        adm_v=col("adm", np.int32), adm_st=col("adm_st", u8), dis_v=col("dis", np.int32),
        dis_st=col("dis_st", u8), age_v=col("age", np.int16), age_st=col("age_st", u8),
        agd_v=col("agd", np.int32), agd_st=col("agd_st", u8), sex_v=col("sex", np.int8),
        sex_st=col("sex_st", u8), wt_v=col("wt", np.int32), wt_st=col("wt_st", u8),
        dx=col("dx", np.int32), sec_bad=col("sec_bad", u8), proc_bad=col("proc_bad", u8),
        tot_v=col("tot", np.int64), tot_st=col("tot_st", u8), fund_v=col("fund", np.int64),
        fund_st=col("fund_st", u8), way_v=col("way", np.int8), way_st=col("way_st", u8),
        bed=col("bed", np.int32), icu_v=col("icu", np.int16), icu_st=col("icu_st", u8)),
        CheckLimits(registry=registry, has_level=has_level, max_age=130, absurd_fen=10**11))
    for i, r in enumerate(rows):
        expected = naive.first_failed_check(dict(r, registry=registry, has_level=has_level))
        assert (check[i], level[i], sex[i]) == expected, (r, registry, has_level)
        assert check[i] < len(CHECKS) or check[i] >= 1000


lists_st = st.lists(st.lists(st.sampled_from([0, 1, 7, -1, -2]), max_size=5), max_size=30)


@given(lists_st)
def test_encode_lists_matches_reference(lists):
    off = np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int32)
    vals = np.array([v for x in lists for v in x], np.int32)
    new_off, ids, bad, first = encode_lists(off, vals)
    kept, ref_bad, ref_first = naive.encode_lists(lists)
    assert [ids[new_off[k]:new_off[k + 1]].tolist() for k in range(len(lists))] == kept
    assert bad.tolist() == ref_bad and first.tolist() == ref_first


@given(lists_st, st.data())
def test_take_lists(lists, data):
    rows = sorted(data.draw(st.sets(st.integers(0, max(len(lists) - 1, 0)))) if lists else [])
    off = np.concatenate([[0], np.cumsum([len(x) for x in lists])]).astype(np.int32)
    vals = np.array([v for x in lists for v in x], np.int32)
    new_off, new_vals = take_lists(off, vals, np.array(rows, np.int64))
    assert [new_vals[new_off[k]:new_off[k + 1]].tolist() for k in range(len(rows))] == \
        [lists[r] for r in rows]
