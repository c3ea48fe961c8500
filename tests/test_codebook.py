"""The codebook (dipcore.ingest.codebook): values per distinct string, facts, threads, pickling."""
import pickle
import threading

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given
from hypothesis import strategies as st

import naive
from dipcore.coding import refdata
from dipcore.coding.facts import CLASS_NAMES, charlson_conditions, procedure_facts
from dipcore.ingest.codebook import BAD, EMPTY, Codebook
from dipcore.policy import Policy

RAW_DX = ["K35.900", " k35.900", "K35900", "I10.x00", "i10.X00", "A15.000x010", "K3X.9", "",
          None, "Ｋ35.900", "C34.900", "E11.200", "E11.900", "K70.400", "C78.000", "N18.500"]
RAW_PROC = ["47.0100", "47.01", "4701", "99.2900", "88.3800", "36.0600", "00.6600x004", "4",
            None, "", "54.5100", "96.0700", "45.2300", "39.0303"]


@given(st.lists(st.sampled_from(RAW_DX), max_size=40), st.booleans())
def test_diagnoses_normalise_once_per_string(values, dictionary):
    cb = Codebook()
    arr = pa.array(values, pa.string())
    got = cb.dx.encode(pc.dictionary_encode(arr) if dictionary else arr)
    canon = cb.dx.canon.strings().to_pylist()
    for v, g in zip(values, got):
        code, status = naive.normalize_code(v, "diagnosis")
        if status == naive.OK:
            assert canon[g] == code
        else:
            assert g == (EMPTY if status == naive.EMPTY else BAD)
    # distinct raw spellings of one code share its id
    if " k35.900" in values and "K35.900" in values:
        assert got[values.index(" k35.900")] == got[values.index("K35.900")]


def test_labels_and_free_text():
    cb = Codebook()
    pools = cb.pool.encode(pa.array(["employee", "职工", "390", " Resident ", "", None, "army"]))
    assert pools.tolist() == [0, 0, 1, 1, EMPTY, EMPTY, BAD]
    beds = cb.bed.encode(pa.array(["精神", "hospice", "康复类", None, "surgery"]))
    assert beds.tolist() == [0, 2, 1, EMPTY, BAD]
    h = cb.hospital.encode(pa.array(["H1", " H1 ", "H2", "  ", None]))
    assert h[0] == h[1] != h[2] and h[3] == h[4] == EMPTY
    assert cb.hospital.canon.take(h[:3]).to_pylist() == ["H1", "H1", "H2"]


def test_diagnosis_facts_match_the_reference():
    cb = Codebook()
    ids = cb.dx.encode(pa.array(RAW_DX))
    facts = cb.diagnoses.facts()
    table = list(refdata.charlson_conditions())
    names = [name for name, _, _ in table]
    for code in cb.dx.canon.strings().to_pylist():
        i = cb.dx.canon.strings().to_pylist().index(code)
        assert cb.diagnoses.keys[3].strings()[facts["key3"][i]].as_py() == code[:3]
        assert cb.diagnoses.keys[5].strings()[facts["key5"][i]].as_py() == code[:5]
        packed = (ord(code[0]) - 65) * 100 + int(code[1:3])         # letter, two digits
        assert facts["category"][i] == packed
        flat = code.replace(".", "")
        hits = [n for n, _, ps in table if any(flat[:4] == p or flat[:3] == p for p in ps)]
        cond = facts["condition"][i]
        assert (names[cond] if cond >= 0 else None) in (hits or [None])
    assert len(ids) == len(RAW_DX)


@given(st.lists(st.text(st.sampled_from("0123456789.x"), min_size=1, max_size=11), max_size=40),
       st.sampled_from([(), ("88.*",), ("47.0100", "99.*")]))
def test_procedure_facts_match_the_scalar_rules(codes, extra):
    excluded, rank = procedure_facts(pa.array(codes, pa.string()), extra)
    exact = tuple(e for e in extra if not e.endswith("*"))
    prefixes = tuple(e.rstrip("*") for e in extra if e.endswith("*"))
    for code, e, r in zip(codes, excluded, rank):
        expected = refdata.is_excluded_procedure(code) or code in exact or code.startswith(prefixes or ("\0",))
        assert e == expected
        assert CLASS_NAMES[r] == refdata.procedure_class(code)


def test_charlson_conditions_vector_is_the_prefix_rule():
    codes = pa.array(["I21.000", "I25.200", "E11.200", "E11.900", "C78.000", "Z00.000"])
    got = charlson_conditions(codes)
    table = list(refdata.charlson_conditions())
    for code, cond in zip(codes.to_pylist(), got):
        flat = code.replace(".", "")
        prefix = {p: i for i, (_, _, ps) in enumerate(table) for p in ps}
        assert cond == prefix.get(flat[:4], prefix.get(flat[:3], -1))


@given(st.lists(st.lists(st.sampled_from(RAW_PROC[:8] + RAW_PROC[10:]), max_size=5), min_size=1,
                max_size=25),
       st.sampled_from(["main", "highest", "first"]), st.sampled_from([None, 4]))
def test_combinations_and_classes(cases, class_from, prefix):
    cb = Codebook()
    policy = Policy(comprehensive_class_from=class_from, procedure_prefix=prefix)
    flat = pa.array([p for c in cases for p in c], pa.string())
    values = cb.proc.encode(flat)
    # drop blanks and malformed codes as validation would (rows with BAD are quarantined)
    norm = [[naive.normalize_code(p, "procedure") for p in c] for c in cases]
    keep = values >= 0
    kept_off = np.concatenate([[0], np.cumsum([sum(s == naive.OK for _, s in n) for n in norm])]).astype(np.int32)
    g = cb.grouping(policy)
    comb, tclass = g.encode_cases(kept_off, values[keep], class_from)
    strings = g.combination_strings().to_pylist()
    for k, n in enumerate(norm):
        recorded = [c[:prefix] if prefix else c for c, s in n if s == naive.OK]
        excluded = {c for c in recorded if refdata.is_excluded_procedure(c)}
        canon = naive.canonical(recorded, excluded)
        assert strings[comb[k]] == "+".join(canon)
        if class_from == "main":
            expect = refdata.procedure_class(canon[0]) if canon else "conservative"
        elif class_from == "highest":
            expect = max((refdata.procedure_class(c) for c in canon), key=CLASS_NAMES.index,
                         default="conservative")
        else:
            expect = refdata.procedure_class(recorded[0]) if recorded else "conservative"
        assert CLASS_NAMES[tclass[k]] == expect


def test_pickled_codebook_keeps_ids_and_facts():
    cb = Codebook()
    dx = cb.dx.encode(pa.array(RAW_DX))
    g = cb.grouping(Policy())
    procs = cb.proc.encode(pa.array(["47.0100", "54.5100", "45.2300"]))
    comb, _ = g.encode_cases(np.array([0, 2, 3], np.int32), procs, "main")
    facts = cb.diagnoses.facts()
    back = pickle.loads(pickle.dumps(cb))
    assert np.array_equal(back.dx.encode(pa.array(RAW_DX)), dx)
    for k, v in facts.items():
        assert np.array_equal(back.diagnoses.facts()[k], v), k
    g2 = back.grouping(Policy())
    assert g2.combination_strings().to_pylist() == g.combination_strings().to_pylist()
    comb2, _ = g2.encode_cases(np.array([0, 2, 3], np.int32), procs, "main")
    assert np.array_equal(comb, comb2)
    assert back.dx.lock is back.lock and g2.lock is back.lock and g2.codes.lock is back.lock


def test_one_codebook_shared_by_threads_stays_consistent():
    """Threads that encode into, and derive facts from, the same codebook at the same time
    (the scoring passes read codebooks other threads may still be filling) see ids that
    always name the same strings."""
    cb = Codebook()
    rng = np.random.default_rng(1)
    pool = [f"{chr(65 + i % 26)}{i % 100:02d}.{i % 10}00" for i in range(3000)]
    errors = []

    def work(seed):
        r = np.random.default_rng(seed)
        for _ in range(30):
            values = [pool[j] for j in r.integers(0, len(pool), 500)]
            ids = cb.dx.encode(pa.array(values))
            facts = cb.diagnoses.facts()
            strings = cb.dx.canon.strings()
            got = strings.take(pa.array(ids)).to_pylist()
            if got != values or len(facts["key3"]) < ids.max() + 1:
                errors.append(seed)
                return
    threads = [threading.Thread(target=work, args=(int(s),)) for s in rng.integers(0, 10**6, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
