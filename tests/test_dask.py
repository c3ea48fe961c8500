"""The Dask engine gives the local engine's answers bit for bit, and survives a lost worker."""
import dataclasses
import os
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dipcore as dc
from dipcore.schema import label_counts

distributed = pytest.importorskip("distributed")
from distributed import Client, LocalCluster  # noqa: E402

POLICY = dc.Policy(core_min_cases=5)


@pytest.fixture(scope="module", params=[1, 2, 4], ids=lambda n: f"{n}w")
def client(request):
    with LocalCluster(n_workers=request.param, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def data(small_province, tmp_path_factory):
    out, _ = small_province
    hospitals = dc.read_hospitals(out / "hospitals.csv")
    history = out / "cases" / "year=2023"
    current = out / "cases" / "year=2024"
    local_cat = dc.calibrate(history, policy=POLICY, hospitals=hospitals)
    budget = {"employee": 3e7, "resident": 2.5e7}
    local = dc.settle(current, local_cat, budget=budget, hospitals=hospitals)
    return dict(hospitals=hospitals, history=history, current=current, catalog=local_cat,
                budget=budget, local=local, tmp=tmp_path_factory.mktemp("dask"))


def same_catalog(a, b):
    assert a.groups.equals(b.groups)
    assert (a.mean_cost, a.level_coefficients, a.bed_day_rates, a.budget_point_value,
            a.fingerprint, a.years) == (b.mean_cost, b.level_coefficients, b.bed_day_rates,
                                        b.budget_point_value, b.fingerprint, b.years)


def same_settlement(a, b):
    assert a.point_value == b.point_value
    assert a.pools.equals(b.pools)
    assert a.hospitals.equals(b.hospitals)
    assert a.monthly.equals(b.monthly)
    assert a.cases.equals(b.cases)
    assert a.quarantine.equals(b.quarantine)
    assert a.warnings == b.warnings
    assert a.case_labels == b.case_labels
    assert a.case_labels["group_kind"] == label_counts(a.cases.column("group_kind"))


@pytest.mark.parametrize("rows_per_part", [350, 4000])
def test_calibrate_matches_local(client, data, rows_per_part):
    cat = dc.calibrate(data["history"], policy=POLICY, hospitals=data["hospitals"],
                       engine="dask", client=client, batch_rows=rows_per_part)
    same_catalog(cat, data["catalog"])


@pytest.mark.parametrize("rows_per_part", [300, 5000])
def test_settle_matches_local(client, data, rows_per_part):
    out = data["tmp"] / f"out-{len(client.scheduler_info()['workers'])}-{rows_per_part}"
    r = dc.settle(data["current"], data["catalog"], budget=data["budget"],
                  hospitals=data["hospitals"], engine="dask", client=client,
                  batch_rows=rows_per_part, out=out)
    same_settlement(r, data["local"])
    assert (out / "cases.parquet").is_dir() and (out / "hospitals.csv").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]     # no staging left


@pytest.mark.parametrize("rows_per_part", [400])
def test_sweep_matches_local(client, data, rows_per_part):
    variants = {"high": {"high_ratio": 2.5, "low_rule": "ratio_2020"},
                "sharing": {"sharing_bands": [[0.1, 0.7]], "reserve": 0.05},
                "no trim": {"trim": "none"}}
    kwargs = dict(hospitals=data["hospitals"], history=data["history"])
    local = dc.sweep(data["current"], data["catalog"], variants, data["budget"], **kwargs)
    dist = dc.sweep(data["current"], data["catalog"], variants, data["budget"], engine="dask",
                    client=client, batch_rows=rows_per_part, **kwargs)
    assert dist.counts == local.counts == {"catalogues": 2, "preparations": 1, "scorings": 3}
    for name, settled in local.settlements.items():
        other = dist.settlements[name]
        assert (other.point_value, other.warnings) == (settled.point_value, settled.warnings)
        for table in ("pools", "hospitals", "monthly"):
            assert getattr(other, table).equals(getattr(settled, table)), (name, table)
    assert dist.totals.equals(local.totals) and dist.hospitals.equals(local.hospitals)
    # and the baseline is the settlement
    assert local.baseline.hospitals.equals(data["local"].hospitals)


def same_audit(a, b):
    for name in a.TABLES:
        assert getattr(a, name).equals(getattr(b, name)), name
    assert a.region == b.region and a.warnings == b.warnings and a.tests == b.tests


@pytest.mark.parametrize("rows_per_part", [350, 4000])
def test_audit_matches_local(client, data, rows_per_part):
    # loose limits, so that this small year has flags, evidence and upcoded-case lists to compare
    loose = dataclasses.replace(POLICY, audit_control_limit=0.9, audit_min_ratio=1.05)
    kwargs = dict(hospitals=data["hospitals"], previous=data["history"], policy=loose)
    local = dc.audit(data["current"], data["catalog"], **kwargs)
    dist = dc.audit(data["current"], data["catalog"], engine="dask", client=client,
                    batch_rows=rows_per_part, **kwargs)
    same_audit(dist, local)
    assert local.readmissions.num_rows > 0        # the comparison covers real signals
    assert local.evidence.num_rows > 0 and local.upcoded_cases.num_rows > 0


def _state_equal(a, b):
    """Two pass states equal, field by field (tables by content, arrays exactly)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _state_equal(a[k], b[k])
    elif isinstance(a, (pa.Table, pa.Array)):
        assert a.equals(b)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, list) and a and isinstance(a[0], pa.Table):
        _state_equal(pa.concat_tables(a), pa.concat_tables(b))
    elif hasattr(a, "__dataclass_fields__"):
        for name in a.__dataclass_fields__:
            if name != "accumulator":
                _state_equal(getattr(a, name), getattr(b, name))
    else:
        assert a == b


def test_every_pass_gives_the_same_state_on_both_executors(client, data):
    """Each pass of every job, run by the local and by the Dask executor, merges to the
    same state (tables compared after the finalizer's sort where the order is free)."""
    from dipcore.engine.distributed import DaskExecutor
    from dipcore.engine.local import LocalExecutor
    from dipcore.engine.passes import AuditSums, HistoryPoints, SettlementSums
    from dipcore.payment.sums import merge_sums
    from dipcore.schemes.dip import draft_catalog
    from dipcore.schemes.dip.passes import GroupAssignments, PrepareKeys
    catalog = data["catalog"]
    special = pa.array([], pa.string())
    opts = dict(hospitals=data["hospitals"], batch_rows=700)
    states = []
    for ex in (LocalExecutor(**opts), DaskExecutor(client=client, **opts)):
        with ex:
            keys, kept = ex.scan(data["history"], PrepareKeys(POLICY), keep=True)
            draft, draft_cat, years, _ = draft_catalog(keys, POLICY, None)
            groups = ex.over(kept, GroupAssignments(draft_cat, years))
            history = ex.over(kept, HistoryPoints(catalog, years))
            settled = ex.scan(data["current"], SettlementSums(catalog, POLICY, special))
            audited = ex.scan(data["current"], AuditSums(catalog, POLICY))
        states.append(dict(keys=keys, groups=groups, history=history, settled=settled,
                           audited=audited))
    local, dist = states
    # key counts: one merged table, rows in hash-aggregation order
    order = [(c, "ascending") for c in ("dx_key", "combination", "tclass", "year")]
    assert local["keys"].counts[0].sort_by(order).equals(dist["keys"].counts[0].sort_by(order))
    assert sorted(map(tuple, local["keys"].fingerprints)) == sorted(map(tuple, dist["keys"].fingerprints))
    assert (local["keys"].years, local["keys"].quarantined) == (dist["keys"].years, dist["keys"].quarantined)
    # group assignments: per-case records, in reading order on both
    _state_equal(local["groups"], dist["groups"])
    _state_equal(local["history"], dist["history"])
    ls, ds = local["settled"], dist["settled"]
    assert merge_sums(ls.hospital_sums, ["key"]).equals(merge_sums(ds.hospital_sums, ["key"]))
    assert merge_sums(ls.monthly_sums, ["key", "month"]).equals(
        merge_sums(ds.monthly_sums, ["key", "month"]))
    assert pa.concat_tables(ls.cases).equals(pa.concat_tables(ds.cases))
    assert (ls.special_found, ls.missing_rates, ls.non_bed_day_cases, ls.n_cases) == \
        (ds.special_found, ds.missing_rates, ds.non_bed_day_cases, ds.n_cases)
    la, da = local["audited"], dist["audited"]
    _state_equal(pa.concat_tables(la.stays), pa.concat_tables(da.stays))
    _state_equal(pa.concat_tables(la.low_standard), pa.concat_tables(da.low_standard))
    by_h = [("hospital_id", "ascending")]
    lsum = pa.concat_tables(la.sums).group_by("hospital_id").aggregate(
        [(c, "sum") for c in la.sums[0].column_names[1:]]).sort_by(by_h)
    dsum = pa.concat_tables(da.sums).group_by("hospital_id").aggregate(
        [(c, "sum") for c in da.sums[0].column_names[1:]]).sort_by(by_h)
    assert lsum.equals(dsum)
    from dipcore.supervision.facts import strata_totals
    lt, dt = strata_totals(la), strata_totals(da)
    assert lt.keys() == dt.keys() and all(lt[k].equals(dt[k]) for k in lt)


def test_shuffled_in_memory_cases(client, data):
    raw = pq.read_table(data["current"])                # raw rows, bad ones included
    shuffled = raw.take(pa.array(np.random.default_rng(3).permutation(raw.num_rows)))
    a = dc.settle(shuffled, data["catalog"], budget=data["budget"], hospitals=data["hospitals"])
    b = dc.settle(shuffled, data["catalog"], budget=data["budget"], hospitals=data["hospitals"],
                  engine="dask", client=client, batch_rows=700)
    same_settlement(a, b)
    # and the shuffled order settles like the original: same statements and point values
    assert a.hospitals.equals(data["local"].hospitals)


def test_duplicates_across_partitions(client, data, tmp_path):
    cases = pq.read_table(data["current"]).slice(0, 3000)
    d = tmp_path / "dups"
    d.mkdir()
    pq.write_table(cases.slice(0, 1500), d / "a.parquet", row_group_size=200)
    # b repeats 40 ids of a, and one of its own rows
    repeat = pa.concat_tables([cases.slice(100, 40), cases.slice(1500, 1500), cases.slice(1600, 1)])
    pq.write_table(repeat, d / "b.parquet", row_group_size=300)
    local = dc.read_cases(d, hospitals=data["hospitals"])[1]
    r = dc.settle(d, data["catalog"], budget=data["budget"], hospitals=data["hospitals"],
                  engine="dask", client=client, batch_rows=250)
    q = r.quarantine.filter(pa.compute.equal(r.quarantine["reason"], "duplicate_case_id"))
    lq = local.filter(pa.compute.equal(local["reason"], "duplicate_case_id"))
    assert q.num_rows == lq.num_rows == 41
    assert q.select(["source", "row", "case_id"]).equals(lq.select(["source", "row", "case_id"]))
    loc = dc.settle(d, data["catalog"], budget=data["budget"], hospitals=data["hospitals"])
    same_settlement(r, loc)


def test_bad_input_stops_with_the_same_error(client, tmp_path, data):
    path = tmp_path / "bad.csv"
    path.write_text("case_id,hospital_id\nC1,H1\n")
    with pytest.raises(dc.InputError, match="'pool'"):
        dc.settle(path, data["catalog"], budget=data["budget"], engine="dask", client=client)


def test_a_killed_worker_does_not_change_the_result(data, tmp_path):
    """Kill a worker process mid-run: Dask recomputes its tasks on the other worker (and the
    nanny restarts it); the answer is the same, or the run stops with a clear error."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        pids = c.run(os.getpid)
        victim = sorted(pids.values())[-1]
        started = threading.Event()

        def kill():
            started.wait(30)
            time.sleep(0.4)
            try:
                os.kill(victim, 9)
            except ProcessLookupError:
                pass
        t = threading.Thread(target=kill)
        t.start()
        started.set()
        try:
            r = dc.settle(data["current"], data["catalog"], budget=data["budget"],
                          hospitals=data["hospitals"], engine="dask", client=c, batch_rows=150,
                          out=tmp_path / "killed")
        except dc.DipcoreError as exc:      # acceptable: a clear error, never a partial result
            assert "Dask" in str(exc) and "\n" not in str(exc)
            assert not (tmp_path / "killed" / "cases.parquet").exists()
        else:
            same_settlement(r, data["local"])
        finally:
            t.join()
        c.wait_for_workers(2, timeout=60)                   # the nanny restarted it
        assert victim not in c.run(os.getpid).values()    # the worker really died
