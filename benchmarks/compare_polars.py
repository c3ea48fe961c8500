"""The national default rules in Polars (the comparison of ``benchmarks/compare.py``).

The same rules as ``compare_duckdb.py``, written with lazy Polars expressions.
"""
from __future__ import annotations

import polars as pl

from dipcore.coding import refdata

W = {1: 7.0, 2: 2.0, 3: 1.0}     # rank of the year from the newest -> weight (1:2:7)
HIERARCHY = [("diabetes_without_complication", "diabetes_with_complication"),
             ("mild_liver_disease", "severe_liver_disease"),
             ("malignancy", "metastatic_solid_tumour")]


def _wmean(df: pl.LazyFrame, keys: list[str], years: pl.LazyFrame, s="s", n="n") -> pl.LazyFrame:
    """Weighted mean of per-year means over the years present, per ``keys``."""
    return (df.join(years, on="year")
              .group_by(keys)
              .agg(((pl.col("w") * pl.col(s) / pl.col(n)).sum() / pl.col("w").sum()).alias("m")))


def _code_info(codes: pl.LazyFrame) -> pl.LazyFrame:
    exact, prefixes = refdata.procedure_exclusions()
    classes = refdata.procedure_class_prefixes()
    by_len: dict[int, dict[str, str]] = {}
    for p, c in classes.items():
        by_len.setdefault(len(p), {})[p] = c
    code = pl.col("code")
    cls = pl.coalesce([code.str.slice(0, L).replace_strict(m, default=None, return_dtype=pl.String)
                       for L, m in sorted(by_len.items(), reverse=True)] + [pl.lit("therapeutic")])
    excluded = code.is_in(list(exact)) | pl.any_horizontal([code.str.starts_with(p) for p in prefixes])
    return codes.unique().with_columns(excluded=excluded, cls=cls)


def features(lf: pl.LazyFrame, code_info: pl.LazyFrame) -> pl.LazyFrame:
    base = lf.select(
        "case_id", "hospital_id", "pool", pl.col("hospital_level").alias("level"),
        pl.col("discharge_date").dt.year().alias("year"),
        pl.max_horizontal(pl.lit(1), (pl.col("discharge_date") - pl.col("admission_date"))
                          .dt.total_days()).alias("los"),
        (pl.col("total_cost").cast(pl.Float64) * 100).round().cast(pl.Int64).alias("cost"),
        (pl.col("fund_paid").cast(pl.Float64) * 100).round().cast(pl.Int64).alias("fund"),
        pl.col("primary_dx").str.slice(0, 5).alias("dx_sub"),
        pl.col("primary_dx").str.slice(0, 3).alias("cat"),
        pl.col("bed_day_category").alias("bed"), "procedures")
    p = (base.select("case_id", "procedures")
             .with_columns(ord=pl.int_ranges(pl.col("procedures").list.len()))
             .explode(["procedures", "ord"]).rename({"procedures": "code"})
             .drop_nulls("code"))
    kept = p.join(code_info, on="code").filter(~pl.col("excluded"))
    first = kept.sort("case_id", "ord").group_by("case_id").agg(
        pl.col("code").first().alias("main"), pl.col("cls").first().alias("cls"))
    related = (kept.join(first.select("case_id", "main"), on="case_id")
                   .filter(pl.col("code") != pl.col("main"))
                   .group_by("case_id")
                   .agg(pl.col("code").unique().sort().str.join("+").alias("rel")))
    out = (base.drop("procedures").join(first, on="case_id", how="left")
               .join(related, on="case_id", how="left")
               .with_columns(
                   combination=pl.when(pl.col("main").is_null()).then(pl.lit(""))
                   .when(pl.col("rel").is_null()).then(pl.col("main"))
                   .otherwise(pl.col("main") + "+" + pl.col("rel")),
                   main=pl.col("main").fill_null(""), cls=pl.col("cls").fill_null("conservative"))
               .drop("rel"))
    return out


def _assign(f: pl.LazyFrame, core: pl.LazyFrame) -> pl.LazyFrame:
    c = core.with_columns(hit=pl.lit(True))
    return (f.join(c.rename({"combination": "combination", "hit": "h1"}),
                   on=["dx_sub", "combination"], how="left")
             .join(c.rename({"combination": "main", "hit": "h2"}), on=["dx_sub", "main"], how="left")
             .join(c.filter(pl.col("combination") == "").select("dx_sub", pl.col("hit").alias("h3")),
                   on="dx_sub", how="left")
             .with_columns(grp=pl.when(pl.col("h1") & (pl.col("combination") != ""))
                           .then(pl.col("dx_sub") + "|" + pl.col("combination"))
                           .when(pl.col("h2") & (pl.col("main") != ""))
                           .then(pl.col("dx_sub") + "|" + pl.col("main"))
                           .when(pl.col("h3")).then(pl.col("dx_sub") + "|conservative")
                           .otherwise(pl.col("cat") + "|" + pl.col("cls")))
             .drop("h1", "h2", "h3"))


def run(history: pl.LazyFrame, current: pl.LazyFrame, budget: dict[str, float]) -> dict:
    codes = pl.concat([history.select(pl.col("procedures").explode().alias("code")),
                       current.select(pl.col("procedures").explode().alias("code"))]).drop_nulls()
    info = _code_info(codes).collect().lazy()
    hf = features(history, info).collect().lazy()
    cf = features(current, info)
    years = (hf.select(pl.col("year").unique()).sort("year", descending=True)
               .with_row_index("rk", offset=1).filter(pl.col("rk") <= 3)
               .with_columns(w=pl.col("rk").replace_strict(W, return_dtype=pl.Float64))
               .select("year", "w")).collect().lazy()
    dip = hf.join(years.select("year"), on="year").filter(pl.col("bed").is_null()).collect().lazy()
    mk = dip.group_by("dx_sub", "main").agg(pl.len().alias("n")).filter(pl.col("n") >= 15)
    key_year = dip.group_by("dx_sub", "main", "combination", "year").agg(
        pl.len().alias("n"), pl.col("cost").sum().alias("s"))
    full = _wmean(key_year, ["dx_sub", "main", "combination"], years).join(
        key_year.group_by("dx_sub", "main", "combination").agg(pl.col("n").sum().alias("total")),
        on=["dx_sub", "main", "combination"])
    main_mean = _wmean(key_year.group_by("dx_sub", "main", "year").agg(pl.col("n").sum(), pl.col("s").sum()),
                       ["dx_sub", "main"], years).rename({"m": "m_main"})
    alone = full.filter(pl.col("combination") == pl.col("main")).select("dx_sub", "main", pl.col("m").alias("m_alone"))
    related = (full.filter((pl.col("combination") != pl.col("main")) & (pl.col("total") >= 15))
                   .join(mk.select("dx_sub", "main"), on=["dx_sub", "main"])
                   .join(alone, on=["dx_sub", "main"], how="left")
                   .join(main_mean, on=["dx_sub", "main"])
                   .filter(pl.col("m") >= 1.1 * pl.coalesce("m_alone", "m_main"))
                   .select("dx_sub", "combination"))
    core = pl.concat([mk.select("dx_sub", pl.col("main").alias("combination")), related]).collect().lazy()
    cal = _assign(dip, core).collect().lazy()
    M = _wmean(dip.group_by("year").agg(pl.len().alias("n"), pl.col("cost").sum().alias("s"))
               .with_columns(k=pl.lit(0)), ["k"], years).collect()["m"][0]
    k_level = _wmean(dip.group_by("level", "year").agg(pl.len().alias("n"), pl.col("cost").sum().alias("s")),
                     ["level"], years).select("level", (pl.col("m") / M).round(4, mode="half_away_from_zero").alias("k"))
    cuts = cal.group_by("grp").agg(
        pl.len().alias("n"),
        pl.col("cost").quantile(0.025, interpolation="linear").alias("lo"),
        pl.col("cost").quantile(0.975, interpolation="linear").alias("hi"),
        (pl.col("level") == 1).mean().alias("primary_share"))
    cuts = cuts.with_columns(lo=pl.when(pl.col("n") >= 25).then(pl.col("lo")).otherwise(-1e300),
                             hi=pl.when(pl.col("n") >= 25).then(pl.col("hi")).otherwise(1e300))
    trimmed = cal.join(cuts, on="grp").filter((pl.col("cost") >= pl.col("lo")) & (pl.col("cost") <= pl.col("hi")))
    trimmed = trimmed.collect().lazy()
    gm = _wmean(trimmed.group_by("grp", "year").agg(pl.len().alias("n"), pl.col("cost").sum().alias("s")),
                ["grp"], years)
    cv = trimmed.group_by("grp").agg((pl.col("cost").std(ddof=0) / pl.col("cost").mean()).alias("cv"))
    groups = (gm.join(cv, on="grp").join(cuts.select("grp", "primary_share"), on="grp")
                .with_columns(score=(pl.col("m") / M * 1000).round(4, mode="half_away_from_zero"),
                              basic=(~pl.col("grp").str.contains(r"^...\|")) & (pl.col("cv") <= 0.7)
                              & (pl.col("primary_share") >= 0.2))
                .select("grp", "m", "score", "basic")).collect().lazy()
    level_means = _wmean(trimmed.group_by("grp", "level", "year").agg(pl.len().alias("n"), pl.col("cost").sum().alias("s")),
                         ["grp", "level"], years).rename({"m": "m_level"})
    bed_rates = _wmean(hf.join(years.select("year"), on="year").filter(pl.col("bed").is_not_null())
                       .group_by("bed", "year").agg(pl.col("cost").sum().alias("s"), pl.col("los").sum().alias("n")),
                       ["bed"], years).select("bed", (pl.col("m") / M * 1000).round(4, mode="half_away_from_zero").alias("rate"))
    core_final = core.with_columns(grp=pl.col("dx_sub") + "|" + pl.when(pl.col("combination") == "")
                                   .then(pl.lit("conservative")).otherwise(pl.col("combination"))) \
        .join(groups.select("grp"), on="grp").drop("grp")
    cur = (_assign(cf, core_final)
           .join(groups, on="grp", how="left")
           .join(level_means, on=["grp", "level"], how="left")
           .join(k_level, on="level", how="left")
           .join(bed_rates, on="bed", how="left")
           .with_columns(k=pl.when(pl.col("basic")).then(1.0).otherwise(pl.col("k")),
                         base=pl.coalesce("m_level", "m")))
    r = pl.col("cost") / pl.col("base")
    rw_k = pl.col("score") * pl.col("k")
    points = (pl.when(pl.col("bed").is_not_null()).then(pl.col("rate") * pl.col("los"))
                .when(pl.col("score").is_null()).then(pl.col("cost") / M * 1000 * 0.7)
                .when(r < 0.5).then(rw_k * pl.min_horizontal(pl.lit(1.0), pl.col("cost") / (pl.col("base") * pl.col("k"))))
                .when(r > 2.0).then(rw_k * ((r - 2.0) + 1.0))
                .otherwise(rw_k)).round(4, mode="half_away_from_zero")
    case_points = cur.select("hospital_id", "pool", "cost", "fund", points.fill_null(0).alias("points")).collect()
    pools = case_points.group_by("pool").agg(pl.col("points").sum().alias("P"),
                                              (pl.col("fund").sum() / pl.col("cost").sum()).alias("f"))
    pv = {p: (budget[p] / f) / P for p, P, f in pools.iter_rows()}
    fr = {p: f for p, _, f in pools.iter_rows()}
    per_h = case_points.group_by("hospital_id", "pool").agg(pl.col("points").sum())
    hospitals = {(h, p): {"points": pts, "fund_payable": pts * pv[p] * fr[p]} for h, p, pts in per_h.iter_rows()}
    return {"point_value": pv, "hospitals": hospitals, "cci": _cci(current)}


def _cci(current: pl.LazyFrame) -> dict[str, int]:
    rows = [(name, w, p) for name, w, ps in refdata.charlson_conditions() for p in ps]
    quan = pl.LazyFrame({"condition": [r[0] for r in rows], "weight": [r[1] for r in rows],
                         "prefix": [r[2] for r in rows]})
    s = (current.select("case_id", "hospital_id", pl.col("secondary_dx").alias("code"))
                .explode("code").drop_nulls("code")
                .with_columns(pl.col("code").str.replace_all(".", "", literal=True)))
    hits = pl.concat([s.with_columns(prefix=pl.col("code").str.slice(0, L)).join(quan, on="prefix")
                      for L in (3, 4)]).select("case_id", "hospital_id", "condition", "weight").unique()
    severe = pl.LazyFrame({"condition": [m for m, _ in HIERARCHY], "severe": [s for _, s in HIERARCHY]})
    present = hits.select("case_id", pl.col("condition").alias("severe"), pl.lit(True).alias("has"))
    dropped = (hits.join(severe, on="condition").join(present, on=["case_id", "severe"])
                   .select("case_id", "condition"))
    kept = hits.join(dropped, on=["case_id", "condition"], how="anti")
    out = kept.group_by("hospital_id").agg(pl.col("weight").sum()).collect()
    return dict(out.iter_rows())
