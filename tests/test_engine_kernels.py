"""Engine kernels against tests/naive.py: combinations, CCI, grouping, points, aggregation."""
import numpy as np
import pytest
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

import naive
from dipcore.coding import refdata
from dipcore._kernels import points as P
from dipcore.payment.points import HIGH_RULES, LOW_RULES
from dipcore._kernels.aggregate import sum_by, sum_by_key
from dipcore._kernels.group import canonical_combinations, key_candidates, pick_groups
from dipcore._kernels.severity import cci_scores
from dipcore.schemes.dip.groups import group_tiers
from dipcore.ingest.codebook import Codebook
from dipcore.policy import Policy
from dipcore.coding.facts import CCI_MILD, CCI_SEVERE, CCI_WEIGHTS
from dipcore.schemes.dip.features import Preparer

PROCS = ["47.0100", "45.2300", "99.2900", "36.0600", "88.3800", "54.5100"]


@given(st.lists(st.lists(st.sampled_from(PROCS), max_size=6), max_size=20),
       st.sets(st.sampled_from(PROCS)))
def test_canonical_combinations(cases, excluded):
    vocab = sorted(PROCS)
    ids = np.array([vocab.index(p) for c in cases for p in c], np.int32)
    off = np.concatenate([[0], np.cumsum([len(c) for c in cases])]).astype(np.int32)
    keep = np.array([vocab[i] not in excluded for i in ids], bool)
    new_off, new_ids = canonical_combinations(off, ids, keep)
    got = [[vocab[i] for i in new_ids[new_off[k]:new_off[k + 1]]] for k in range(len(cases))]
    assert got == [naive.canonical(c, excluded) for c in cases]


DX_POOL = ["I21.000", "I50.900", "E11.200", "E11.900", "K70.400", "K70.000", "C78.000",
           "C34.900", "N18.500", "J44.900", "B20.000", "I10.x00", "K35.900", "Z95.800", "I25.200"]


@given(st.lists(st.lists(st.sampled_from(DX_POOL), max_size=8), max_size=25))
def test_cci_matches_reference(cases):
    cb = Codebook()
    ids = cb.dx.encode(pa.array([c for case in cases for c in case], pa.string()))
    cond = cb.diagnoses.facts()["condition"][ids] if len(ids) else np.zeros(0, np.int32)
    table = list(refdata.charlson_conditions())
    off = np.concatenate([[0], np.cumsum([len(c) for c in cases])]).astype(np.int32)
    got = cci_scores(off, cond, CCI_WEIGHTS, CCI_MILD, CCI_SEVERE)
    assert got.tolist() == [naive.charlson(c, table) for c in cases]


group_st = st.fixed_dictionaries({
    "kind": st.sampled_from(["core", "core", "comp"]),
    "dx": st.integers(0, 3), "procs": st.lists(st.integers(0, 5), max_size=3, unique=True),
    "cat": st.integers(0, 2), "cls": st.one_of(st.none(), st.integers(0, 3)),
    "mean": st.floats(100, 1e5), "score": st.floats(10, 5000),
})
case_st = st.tuples(st.integers(-1, 3), st.lists(st.integers(-1, 5), max_size=5),
                    st.integers(-1, 2), st.integers(0, 3), st.floats(100, 1e5))


@given(st.lists(group_st, max_size=12), st.lists(case_st, min_size=1, max_size=20),
       st.booleans(), st.sampled_from(["core_first", "operative_comprehensive_first"]))
def test_assign_groups_matches_reference(groups, cases, tie_highest, priority):
    core_tier, comp_tier = group_tiers(Policy(group_priority=priority))
    core = sorted([g for g in groups if g["kind"] == "core"], key=lambda g: g["dx"])
    comps = []
    seen = set()
    for g in groups:                         # one comprehensive group per (cat, class)
        if g["kind"] == "comp" and (g["cat"], g["cls"]) not in seen:
            seen.add((g["cat"], g["cls"]))
            comps.append(g)
    for g in core:
        g["cls"] = g["cls"] if g["cls"] is not None else 0
        g["tier"] = int(core_tier[g["cls"]])
    ordered = core + comps
    dx_start = np.zeros(4, np.int32)
    dx_count = np.zeros(4, np.int32)
    for pos, g in enumerate(core):
        if dx_count[g["dx"]] == 0:
            dx_start[g["dx"]] = pos
        dx_count[g["dx"]] += 1
    g_off = np.concatenate([[0], np.cumsum([len(g["procs"]) if g["kind"] == "core" else 0
                                            for g in ordered])]).astype(np.int32)
    g_procs = np.array([p for g in ordered if g["kind"] == "core" for p in g["procs"]], np.int32)
    comp_group = np.full((3, 4), -1, np.int32)
    comp_all = np.full(3, -1, np.int32)
    cat_known = np.zeros(3, bool)
    for pos, g in enumerate(ordered):
        if g["kind"] == "comp":
            if g["cls"] is None:
                comp_all[g["cat"]] = pos
            else:
                comp_group[g["cat"], g["cls"]] = pos
            cat_known[g["cat"]] = True
    # grouping keys: the distinct (dx, procedures, category, class) of the cases, each with
    # a combination of its own, listed in reverse order (the kernel must follow key_comb)
    keys = list(dict.fromkeys((c[0], tuple(c[1]), c[2], c[3]) for c in cases))
    case_key = np.array([keys.index((c[0], tuple(c[1]), c[2], c[3])) for c in cases], np.int32)
    comb_off = np.concatenate([[0], np.cumsum([len(k[1]) for k in keys[::-1]])]).astype(np.int32)
    comb_procs = np.array([p for k in keys[::-1] for p in k[1]] or [0], np.int32)
    key_comb = np.arange(len(keys) - 1, -1, -1, dtype=np.int32)
    key_dx = np.array([k[0] for k in keys], np.int32)
    key_cat = np.array([k[2] for k in keys], np.int32)
    key_class = np.array([k[3] for k in keys], np.int32)
    case_class = np.array([c[3] for c in cases], np.int32)
    cost = np.array([c[4] for c in cases])
    g_mean = np.array([g["mean"] for g in ordered])
    g_score = np.array([g["score"] for g in ordered])
    cand_off, cand, key_reason = key_candidates(
        key_dx, key_cat, key_class, key_comb, comb_off, comb_procs, dx_start, dx_count, g_off,
        g_procs, np.array([g.get("tier", 0) for g in ordered], np.int32), comp_group, comp_all,
        cat_known, comp_tier)
    got = pick_groups(case_key, cost, cand_off, cand, g_mean, g_score, tie_highest)
    reason = key_reason[case_key]
    for g in comps:
        g["tier"] = int(comp_tier[case_class[0]])   # replaced per case below
    for i, c in enumerate(cases):
        ref_groups = []
        for g in ordered:
            r = dict(g, cat=g["cat"] if g["kind"] == "comp" else None,
                     dx=g["dx"] if g["kind"] == "core" else None)
            if g["kind"] == "comp":
                r["tier"] = int(comp_tier[c[3]])
                r["procs"] = []
            ref_groups.append(r)
        expected = naive.choose_group(c[0], c[1], c[2], c[3], c[4], ref_groups, tie_highest)
        assert got[i] == expected
        if expected < 0:
            assert reason[i] == (2 if c[2] >= 0 and cat_known[c[2]] else 1)


pol_st = st.fixed_dictionaries({
    "scale": st.sampled_from([1000.0, 100.0]), "ungrouped_discount": st.sampled_from([0.7, 1.0]),
    "cap": st.one_of(st.none(), st.integers(1, 90)),
    "taper_after": st.one_of(st.none(), st.integers(1, 60)),
    "taper_factor": st.sampled_from([0.9, 0.5, 1.0]), "low_ratio": st.sampled_from([0.5, 0.4]),
    "low_inclusive": st.booleans(), "low_rule": st.sampled_from(["actual_cost", "ratio_2020"]),
    "high_ratio": st.sampled_from([2.0, 3.0]), "extreme_ratio": st.sampled_from([5.0, 6.0]),
    "extreme_pay": st.sampled_from(["high", "normal"]),
    "high_rule": st.sampled_from(["national_2020", "shandong", "hubei"]),
})
pcase_st = st.tuples(st.sampled_from(["dip", "dip", "dip", "ungrouped", "special", "bed_day"]),
                     st.floats(50, 5000), st.sampled_from([0.6, 1.0, 1.1, 1.25]),
                     st.sampled_from([1.0, 0.8, 1.3]), st.floats(500, 1e5),
                     st.floats(10, 8e5), st.floats(10, 80), st.integers(1, 150))


@given(pol_st, st.lists(pcase_st, min_size=1, max_size=30))
def test_points_match_reference(pol, cases):
    kinds = {"dip": P.DIP, "ungrouped": P.UNGROUPED, "special": P.SPECIAL, "bed_day": P.BED_DAY}
    arr = lambda j, dt=np.float64: np.array([c[j] for c in cases], dt)  # noqa: E731
    M = 8800.0
    rules = P.PointRules(
        mean_all=M, scale=pol["scale"], low_ratio=pol["low_ratio"],
        low_inclusive=pol["low_inclusive"], low_rule=LOW_RULES[pol["low_rule"]],
        high_ratio=pol["high_ratio"], high_rule=HIGH_RULES[pol["high_rule"]],
        extreme_ratio=pol["extreme_ratio"], extreme_as_high=pol["extreme_pay"] == "high",
        coefficients_on_outliers=True, ungrouped_discount=pol["ungrouped_discount"],
        bed_cap=pol["cap"] or 0, taper_after=pol["taper_after"] or 0,
        taper_factor=pol["taper_factor"])
    units, outlier, ratio = P.case_points(
        np.array([kinds[c[0]] for c in cases], np.int8), arr(1), arr(2), arr(3), arr(4), arr(5),
        arr(6), arr(7, np.int64), rules)
    names = ["", "low", "normal", "high", "extreme"]
    for i, c in enumerate(cases):
        p, cls = naive.points(c[0], c[1], c[2], c[3], c[4], c[5], M, pol, c[6], c[7])
        assert units[i] == naive.round4_units(p), (c, p)
        assert names[outlier[i]] == cls


@given(st.lists(st.tuples(st.integers(-1, 6), st.integers(-10**12, 10**12),
                          st.integers(0, 10**6)), max_size=60))
def test_sum_by_is_exact(rows):
    codes = np.array([r[0] for r in rows], np.int64)
    vals = np.array([[r[1], r[2]] for r in rows], np.int64).reshape(len(rows), 2)
    got = sum_by(codes, 7, vals)
    for c in range(7):
        assert got[c, 0] == sum(r[1] for r in rows if r[0] == c)
        assert got[c, 1] == sum(r[2] for r in rows if r[0] == c)
    # any order gives the same sums
    perm = np.random.default_rng(0).permutation(len(rows))
    assert (sum_by(codes[perm], 7, vals[perm]) == got).all()


@given(st.lists(st.tuples(st.integers(-2**62, 2**62), st.integers(-10**12, 10**12),
                          st.integers(0, 10**6)), max_size=80),
       st.integers(0, 5))
def test_sum_by_key_matches_a_dict(rows, repeat):
    # keys drawn from a handful, so most repeat (and collide in the table), or from all int64
    rows = [(r[0] % (repeat + 1) if repeat else r[0], r[1], r[2]) for r in rows]
    keys = np.array([r[0] for r in rows], np.int64)
    vals = np.array([[r[1], r[2]] for r in rows], np.int64).reshape(len(rows), 2)
    got_keys, got = sum_by_key(keys, vals)
    want = {}
    for k, a, b in rows:
        acc = want.setdefault(k, [0, 0])
        acc[0] += a
        acc[1] += b
    assert list(got_keys) == list(want)                  # first appearance order
    assert [list(r) for r in got] == list(want.values())


def test_round_units_half_up():
    assert P.round_units(1000 * 1.1 * 1.5) == 16_500_000
    assert P.round_units(0.00005) == 1 and P.round_units(0.000049) == 0
    assert P.round_units(1357.95455) == 13_579_546


@given(st.lists(st.tuples(st.sampled_from(["K35.900", "I10.x00", "C34.900"]),
                          st.lists(st.sampled_from(PROCS), max_size=4),
                          st.lists(st.sampled_from(DX_POOL), max_size=4),
                          st.integers(1000, 10**8), st.sampled_from([None, "psychiatric"])),
                min_size=1, max_size=15),
       st.booleans())
def test_features_survive_the_spill_format(rows, compress):
    """Calibration keeps prepared features between passes (an IPC spill file locally,
    compressed buffers on Dask workers); they must come back exactly."""
    import datetime as dt
    import tempfile
    from decimal import Decimal

    import dipcore as dc
    from dipcore.engine.store import FeatureStore
    table = pa.Table.from_pylist([dict(
        case_id=f"C{i}", patient_id="P", hospital_id="H", hospital_level=2, pool="employee",
        admission_date=dt.date(2024, 1, 1), discharge_date=dt.date(2024, 1, 9), age_years=70,
        age_days=None, sex=1, birth_weight_g=None, primary_dx=dx, secondary_dx=sec,
        procedures=procs, total_cost=Decimal(cost) / 100, fund_paid=Decimal(cost // 2) / 100,
        discharge_way=1, bed_day_category=bed, icu_days=None)
        for i, (dx, procs, sec, cost, bed) in enumerate(rows)], schema=dc.CASE_SCHEMA)
    f = Preparer(Policy())(table)
    with tempfile.TemporaryDirectory() as d:
        store = FeatureStore(None if compress else d, compress=compress)
        store.append(f)
        store.finish()
        (back,) = list(store)
    for name in f._NUMERIC + ("slots",):
        assert np.array_equal(getattr(back, name), getattr(f, name)), name
    assert back.codebook is f.codebook and back.grouping is f.grouping
    # the ids still name the same codes
    combos = f.grouping.combination_strings().take(pa.array(back.comb)).to_pylist()
    excluded = {p for p in PROCS if refdata.is_excluded_procedure(p)}
    assert combos == ["+".join(naive.canonical(r[1], excluded)) for r in rows]


# ---- aggregation, finalisation sort, calendar, subtypes, scoring terms ----------------------
from dipcore._kernels.aggregate import bucket_by_group  # noqa: E402
from dipcore._kernels.calendar import year_month_los  # noqa: E402
from dipcore._kernels.group import combination_hashes, order_related  # noqa: E402
from dipcore._kernels.severity import subtype_slots  # noqa: E402


@given(st.lists(st.integers(-1, 6), max_size=80))
def test_bucket_by_group_keeps_input_order(group):
    group = np.array(group, np.int32)
    order, starts = bucket_by_group(group, 7, np.arange(len(group), dtype=np.int64))
    assert order.tolist() == naive.order_by_group_cost(group.tolist(), [0] * len(group))
    assert np.diff(starts).tolist() == [int((group == g).sum()) for g in range(7)]


@given(st.lists(st.tuples(st.integers(-150_000, 150_000), st.integers(-3, 90)), min_size=1,
                max_size=60), st.booleans())
def test_year_month_los(rows, narrow):
    dis = np.array([(r[0] % 900 + 19_000) if narrow else r[0] for r in rows], np.int32)
    adm = dis - np.array([r[1] for r in rows], np.int32)
    year, month, los = year_month_los(adm, dis)
    assert list(zip(year.tolist(), month.tolist(), los.tolist())) == \
        naive.year_month_los(adm.tolist(), dis.tolist())


@given(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 90), st.integers(-1, 365),
                          st.sampled_from([1, 5, 9]), st.integers(0, 12)), max_size=40),
       st.sets(st.sampled_from(["cci", "age", "death", "icu"])))
def test_subtype_slots(rows, dims):
    cols = list(zip(*rows)) if rows else [[]] * 5
    arr = lambda j, dt: np.array(cols[j], dt)  # noqa: E731
    got = subtype_slots(arr(0, np.int16), arr(1, np.int16), arr(2, np.int32), arr(3, np.int8),
                        arr(4, np.int32), "cci" in dims, "age" in dims, "death" in dims,
                        "icu" in dims, 1, 3, 7)
    assert got.tolist() == naive.subtype_slots(*cols, dims, (1, 3, 7))


@given(st.lists(st.tuples(st.integers(-1, 5), st.sampled_from([-1, -1, 0, 2]), st.booleans(),
                          st.integers(1, 3), st.lists(st.integers(-1, 12), min_size=4, max_size=4)),
                min_size=1, max_size=30), st.data())
def test_case_terms(rows, data):
    G = 6
    perm = np.array(data.draw(st.permutations(range(G))), np.int32)
    score = np.array(data.draw(st.lists(st.floats(1, 5000), min_size=G, max_size=G)))
    basic = np.array(data.draw(st.lists(st.booleans(), min_size=G, max_size=G)))
    level_mean = np.array(data.draw(st.lists(st.lists(st.floats(100, 1e6), min_size=4, max_size=4),
                                             min_size=G, max_size=G)))
    aux = np.array(data.draw(st.lists(st.lists(st.sampled_from([0.0, 0.0, 0.9, 1.2, 1.2]),
                                               min_size=13, max_size=13), min_size=G, max_size=G)))
    lc, rates = np.array([1.0, 0.6, 0.85, 1.1]), np.array([40.0, 55.5, 30.0])
    pos = np.array([r[0] for r in rows], np.int32)
    bed = np.array([r[1] for r in rows], np.int8)
    special = np.array([r[2] for r in rows])
    level = np.array([r[3] for r in rows], np.int8)
    slots = np.array([r[4] for r in rows], np.int8)
    got = P.case_terms(pos, perm, bed, special, level, slots, score, basic, level_mean, aux, lc, rates)
    kinds = {P.DIP: "dip", P.UNGROUPED: "ungrouped", P.SPECIAL: "special", P.BED_DAY: "bed_day"}
    ref = naive.case_terms(pos.tolist(), perm.tolist(), bed.tolist(), special.tolist(),
                           level.tolist(), slots.tolist(), score.tolist(), basic.tolist(),
                           level_mean.tolist(), aux.tolist(), lc.tolist(), rates.tolist())
    for i, r in enumerate(ref):
        assert (got[0][i], kinds[got[1][i]], got[2][i], got[3][i], got[4][i], got[5][i],
                got[6][i], got[7][i]) == r


@given(st.lists(st.tuples(st.integers(-1, 4), st.sampled_from(["dip", "dip", "ungrouped", "special", "bed_day",
                                                                "unstable", "new_technology"]),
                          st.sampled_from(["", "low", "normal", "high", "extreme"]),
                          st.integers(0, 10**8), st.sampled_from([0.0, 1234.5678, 999.0001]),
                          st.integers(0, 10**9), st.integers(1, 90), st.sampled_from([1, 5]),
                          st.integers(0, 3)), max_size=50))
def test_hospital_sums(rows):
    kinds = {"dip": P.DIP, "ungrouped": P.UNGROUPED, "special": P.SPECIAL, "bed_day": P.BED_DAY,
             "unstable": P.UNSTABLE, "new_technology": P.NEW_TECH}
    outl = {"": P.NONE, "low": P.LOW, "normal": P.NORMAL, "high": P.HIGH, "extreme": P.EXTREME}
    col = lambda j: [r[j] for r in rows]  # noqa: E731
    got = P.hospital_sums(np.array(col(0), np.int64), 5,
                          np.array([kinds[k] for k in col(1)], np.int8),
                          np.array([outl[o] for o in col(2)], np.int8), np.array(col(3), np.int64),
                          np.array(col(4), np.float64), np.array(col(5), np.int64),
                          np.array([c // 2 for c in col(5)], np.int64), np.array(col(6), np.int32),
                          np.array(col(7), np.int8), np.array(col(8), np.int8))
    ref = naive.hospital_sums(col(0), col(1), col(2), col(3), col(4), col(5),
                              [c // 2 for c in col(5)], col(6), col(7), col(8))
    for c in range(5):
        assert got[c].tolist() == ref.get(c, [0] * 19)


@given(st.lists(st.lists(st.integers(0, 9), max_size=6), max_size=20),
       st.permutations(range(10)))
def test_order_related_and_combination_hashes(combos, perm):
    rank = np.array(perm, np.int64)
    off = np.concatenate([[0], np.cumsum([len(c) for c in combos])]).astype(np.int32)
    ids = np.array([v for c in combos for v in c], np.int32)
    out = order_related(off, ids, rank) if len(ids) else ids
    for k, c in enumerate(combos):
        got = out[off[k]:off[k + 1]].tolist()
        assert got == (c[:1] + sorted(c[1:], key=lambda v: rank[v]))
    code_hash = np.array([(i + 1) * 0x9E3779B97F4A7C15 % 2**64 for i in range(10)], np.uint64)
    h1 = combination_hashes(off, ids, code_hash)
    h2 = combination_hashes(off, out, code_hash)
    assert (h1 == h2).all()                              # related order does not matter
    for a in range(len(combos)):
        for b in range(len(combos)):
            same = combos[a][:1] == combos[b][:1] and sorted(combos[a][1:]) == sorted(combos[b][1:])
            if same:
                assert h1[a] == h1[b]


from dipcore._kernels.aggregate import pack_cases, sort_buckets, unpack_cases, within_cuts  # noqa: E402
from dipcore.schemes.statistics import sorted_by_group_cost as _sorted_by_group_cost  # noqa: E402


case_row = st.tuples(st.integers(-1, 5), st.integers(0, 2**37 - 1) | st.integers(0, 50),
                     st.integers(0, 255), st.integers(1, 3),
                     st.lists(st.integers(-1, 12), min_size=4, max_size=4))


@pytest.mark.parametrize("large", [2, 10**9])     # NumPy sorts groups >= large, the kernel the rest
@given(rows=st.lists(case_row, max_size=60), too_big=st.booleans())
def test_cases_sorted_by_group_and_cost(large, rows, too_big):
    """The grouped cases come out sorted by group then cost, with each case's own year,
    level and slots; a cost beyond any validated one (2**37 fen and up) is refused."""
    import dipcore.schemes.statistics as cal
    import dipcore as dc
    saved, cal._LARGE_GROUP = cal._LARGE_GROUP, large
    if too_big and rows:
        rows[0] = (rows[0][0], 2**40) + rows[0][2:]
    group = np.array([r[0] for r in rows], np.int32)
    cost = np.array([r[1] for r in rows], np.int64)
    year = np.array([r[2] for r in rows], np.int16)
    level = np.array([r[3] for r in rows], np.int8)
    slots = np.array([r[4] for r in rows], np.int8).reshape(len(rows), 4)
    try:
        if too_big and rows:
            with pytest.raises(dc.InputError, match="out of range"):
                _sorted_by_group_cost(group, year, level, cost, slots, 6)
            return
        g, y, lv, c, sl, bounds = _sorted_by_group_cost(group, year, level, cost, slots, 6)
        # written over copies of the inputs: the same arrays, in the copies' memory
        copies = [a.copy() for a in (group, year, level, cost, slots)]
        over = _sorted_by_group_cost(*copies, 6, overwrite=True)
    finally:
        cal._LARGE_GROUP = saved
    for mine, theirs, base in zip(over, (g, y, lv, c, sl, bounds), (*copies, None)):
        np.testing.assert_array_equal(mine, theirs)
        assert base is None or np.shares_memory(mine, base) or mine.size == 0
    got = list(zip(g.tolist(), c.tolist(), y.tolist(), lv.tolist(), map(tuple, sl.tolist())))
    want = sorted((r[0], r[1], r[2], r[3], tuple(r[4])) for r in rows if r[0] >= 0)
    assert [x[:2] for x in got] == [x[:2] for x in want]       # (group, cost) order
    assert sorted(got) == want                                   # every case, intact
    assert np.diff(bounds).tolist() == [int((group == k).sum()) for k in range(6)]


@given(st.lists(case_row, max_size=40))
def test_pack_round_trip_and_cuts(rows):
    rows = [r for r in rows if r[1] < 2**37]
    cost = np.array([r[1] for r in rows], np.int64)
    year = np.array([r[2] for r in rows], np.int16)
    level = np.array([r[3] for r in rows], np.int8)
    slots = np.array([r[4] for r in rows], np.int8).reshape(len(rows), 4)
    packed = pack_cases(cost, year, level, slots)
    c, y, lv, sl = unpack_cases(packed, 4)
    assert (c == cost).all() and (y == year).all() and (lv == level).all() and (sl == slots).all()
    group = np.array([max(r[0], 0) for r in rows], np.int32)
    values, starts = bucket_by_group(group, 6, packed)
    sort_buckets(values, starts, 0, 6, len(values) + 1)
    cs, _, _, _ = unpack_cases(values, 4)
    lo = np.array([10.0, -np.inf, 5.0, 0.0, 3.0, 7.0])
    hi = np.array([40.0, np.inf, 5.0, 1e12, 2.0, 9.0])
    keep = within_cuts(cs, starts, lo, hi)
    gs = np.repeat(np.arange(6), np.diff(starts))
    assert keep.tolist() == [bool(lo[gg] <= v <= hi[gg]) for gg, v in zip(gs, cs)]


from dipcore._kernels.aggregate import count_by, group_statistics  # noqa: E402


@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 10**9), st.integers(0, 2),
                          st.integers(1, 3), st.booleans()), max_size=80), st.integers(1, 3))
def test_group_statistics(rows, parts):
    rows = sorted(rows, key=lambda r: (r[0], r[1]))          # sorted by group, then cost
    G, Y = 5, 3
    g = np.array([r[0] for r in rows], np.int64)
    cost = np.array([r[1] for r in rows], np.int64)
    year = np.array([r[2] for r in rows], np.int8)
    level = np.array([r[3] for r in rows], np.int8)
    keep = np.array([r[4] for r in rows], bool)
    starts = np.concatenate([[0], np.cumsum(count_by(g, G))])
    out = [np.zeros((G, Y), np.int64) for _ in range(3)] + \
        [np.zeros((G, 4, Y), np.int64) for _ in range(2)] + [np.empty(G), np.zeros(G, np.int64)]
    edges = np.linspace(0, G, parts + 1).astype(int)
    for lo, hi in zip(edges[:-1], edges[1:]):
        group_statistics(cost, year, level, keep, starts, lo, hi, *out)
    cnt_year, s_g, k_g, s_gl, k_gl, cv, primary = out
    for grp in range(G):
        mine = [r for r in rows if r[0] == grp]
        kept = [r for r in mine if r[4]]
        for yy in range(Y):
            assert cnt_year[grp, yy] == sum(r[2] == yy for r in mine)
            assert s_g[grp, yy] == sum(r[1] for r in kept if r[2] == yy)
            assert k_g[grp, yy] == sum(r[2] == yy for r in kept)
            for lv in (1, 2, 3):
                assert s_gl[grp, lv, yy] == sum(r[1] for r in kept if r[2] == yy and r[3] == lv)
        assert primary[grp] == sum(r[3] == 1 for r in mine)
        costs = [float(r[1]) for r in kept]
        if costs and sum(costs) > 0:
            mean = sum(costs) / len(costs)
            ref = (sum((x - mean) ** 2 for x in costs) / len(costs)) ** 0.5 / mean
            assert cv[grp] == pytest.approx(ref, rel=1e-9, abs=1e-12)
        else:
            assert np.isnan(cv[grp])


@given(st.lists(st.integers(-2**63, 2**63 - 1), max_size=300),
       st.sampled_from([np.int64, np.uint64, np.int32, np.int8]))
def test_distinct_is_numpys_unique(values, dtype):
    from dipcore._kernels.aggregate import distinct
    info = np.iinfo(dtype)
    a = np.array([v % (int(info.max) - int(info.min) + 1) + int(info.min) for v in values],
                 dtype=dtype)
    got = distinct(a)
    assert got.dtype == a.dtype
    assert got.tolist() == sorted(set(a.tolist()))


@given(st.lists(st.integers(0, 2**64 - 1), max_size=200),
       st.lists(st.integers(0, 2**64 - 1), max_size=200))
def test_union_sorted_is_the_distinct_union(left, right):
    """The validate summary's fold of patient hashes: two sorted distinct arrays merged."""
    from dipcore._kernels.aggregate import distinct, union_sorted
    a, b = (distinct(np.array(v, np.uint64)) for v in (left, right))
    got = union_sorted(a, b)
    assert got.dtype == np.uint64
    assert got.tolist() == sorted(set(left) | set(right))


from dipcore._kernels.aggregate import cv_by  # noqa: E402


@given(st.data(), st.integers(1, 6), st.booleans(), st.booleans())
def test_cv_by_matches_naive_for_integer_and_float_values(data, n_codes, integer, masked):
    """``cv_by`` against ``naive.cv_by``, bit for bit: integer fen (converted where each
    value is added, as calibration passes them) and float values, with and without mask."""
    n = data.draw(st.integers(0, 40))
    codes = data.draw(st.lists(st.integers(0, n_codes - 1), min_size=n, max_size=n))
    values = data.draw(st.lists(st.integers(0, 10**11) if integer else
                                st.floats(-1e6, 1e6, allow_nan=False), min_size=n, max_size=n))
    mask = data.draw(st.lists(st.booleans(), min_size=n, max_size=n)) if masked else None
    arr = np.array(values, np.int64 if integer else np.float64)
    cv, cnt = cv_by(np.array(codes, np.int32), n_codes, arr,
                    np.array(mask, np.bool_) if masked else np.zeros(0, np.bool_))
    want_cv, want_n = naive.cv_by(codes, n_codes, values, mask)
    assert cnt.tolist() == want_n
    np.testing.assert_array_equal(cv, np.array(want_cv))
    if integer:    # the same as converting first
        again, _ = cv_by(np.array(codes, np.int32), n_codes, arr.astype(np.float64),
                         np.array(mask, np.bool_) if masked else np.zeros(0, np.bool_))
        np.testing.assert_array_equal(cv, again)


from dipcore._kernels.aggregate import cell_stats  # noqa: E402


@given(st.data(), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3))
def test_cell_stats_matches_naive_cells(data, n_groups, n_slots, n_years):
    """``cell_stats`` against the cell array made explicitly (group x (slot + 1), cell 0
    for no slot): ``naive.cv_by`` bit for bit, and plain sums and counts by (cell, year)."""
    n = data.draw(st.integers(0, 40))
    group = data.draw(st.lists(st.integers(0, n_groups - 1), min_size=n, max_size=n))
    slot = data.draw(st.lists(st.integers(-1, n_slots - 1), min_size=n, max_size=n))
    year = data.draw(st.lists(st.integers(0, n_years - 1), min_size=n, max_size=n))
    cost = data.draw(st.lists(st.integers(0, 10**11), min_size=n, max_size=n))
    slots = np.array([[s, -1] for s in slot], np.int8).reshape(n, 2)    # a column of a 2-D array
    cv, cnt, sums, counts = cell_stats(np.array(group, np.int32), slots[:, 0], n_groups, n_slots,
                                       np.array(year, np.int8), n_years, np.array(cost, np.int64))
    C = n_groups * (n_slots + 1)
    cells = [g * (n_slots + 1) + s + 1 for g, s in zip(group, slot)]
    want_cv, want_n = naive.cv_by(cells, C, cost, None)
    assert cnt.tolist() == want_n
    np.testing.assert_array_equal(cv, np.array(want_cv))
    want_sums, want_counts = np.zeros((C, n_years), np.int64), np.zeros((C, n_years), np.int64)
    for c, y, v in zip(cells, year, cost):
        want_sums[c, y] += v
        want_counts[c, y] += 1
    np.testing.assert_array_equal(sums, want_sums)
    np.testing.assert_array_equal(counts, want_counts)
