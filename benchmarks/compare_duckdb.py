"""The national default rules in DuckDB SQL (the comparison of ``benchmarks/compare.py``).

Calibration (SPEC 4): exclusions and canonical combinations, core groups by count with the
related-procedure uplift rule, comprehensive groups, 2.5/97.5 percentile trimming for
groups of at least 25 cases, 1:2:7 year weights, per-level means, CV, level coefficients,
basic groups, bed-day rates. Settlement (SPEC 5-7): grouping, low/normal/high/ungrouped and
bed-day points, point value per pool, fund payable per hospital; CCI over secondary
diagnoses (Quan 2005) per hospital. Auxiliary subtypes are left out (the comparison runs
dipcore with ``aux_dimensions = []``).

Grouping follows the candidates that exist in the generated data: the full combination,
the main procedure alone, the conservative core group, then the comprehensive group. The
general rule (any core group whose procedures are a subset of the case's) is dipcore's; the
check in ``compare.py`` shows where the two would differ.
"""
from __future__ import annotations

import duckdb
import pyarrow as pa

from dipcore.coding import refdata

FEATURES = """
CREATE OR REPLACE TEMP TABLE {name} AS
WITH base AS (
    SELECT case_id, hospital_id, pool, hospital_level AS level,
           year(discharge_date) AS year, month(discharge_date) AS month,
           greatest(1, date_diff('day', admission_date, discharge_date)) AS los,
           CAST(round(total_cost * 100) AS BIGINT) AS cost,
           CAST(round(fund_paid * 100) AS BIGINT) AS fund,
           substr(primary_dx, 1, 5) AS dx_sub, substr(primary_dx, 1, 3) AS cat,
           bed_day_category AS bed, procedures, secondary_dx
    FROM {source}
),
p AS (
    SELECT case_id, unnest(procedures) AS code, generate_subscripts(procedures, 1) AS ord
    FROM base
),
kept AS (
    SELECT p.case_id, p.code, p.ord, ci.cls
    FROM p JOIN code_info ci ON ci.code = p.code
    WHERE NOT ci.excluded
),
comb AS (
    SELECT case_id, arg_min(code, ord) AS main, arg_min(cls, ord) AS cls,
           list_sort(list_distinct(list(code))) AS codes
    FROM kept GROUP BY case_id
)
SELECT b.case_id, b.hospital_id, b.pool, b.level, b.year, b.month, b.los, b.cost, b.fund,
       b.dx_sub, b.cat, b.bed,
       coalesce(c.main, '') AS main,
       CASE WHEN c.main IS NULL THEN ''
            WHEN len(list_filter(c.codes, lambda x: x <> c.main)) = 0 THEN c.main
            ELSE c.main || '+' || array_to_string(list_filter(c.codes, lambda x: x <> c.main), '+')
       END AS combination,
       coalesce(c.cls, 'conservative') AS cls
FROM base b LEFT JOIN comb c USING (case_id)
"""

CALIBRATE = """
CREATE OR REPLACE TEMP TABLE years AS
    SELECT year, w FROM (
        SELECT year, row_number() OVER (ORDER BY year DESC) AS rk FROM (SELECT DISTINCT year FROM hf)
    ) JOIN (VALUES (1, 7.0), (2, 2.0), (3, 1.0)) AS t(rk, w) USING (rk);
CREATE OR REPLACE TEMP TABLE dip AS
    SELECT hf.* FROM hf JOIN years USING (year) WHERE bed IS NULL;
-- weighted mean of per-year means, renormalised over the years present
CREATE OR REPLACE MACRO wmean(s, n, w) AS sum(w * s / n) / sum(w);
CREATE OR REPLACE TEMP TABLE mk AS
    SELECT dx_sub, main FROM dip GROUP BY ALL HAVING count(*) >= 15;
CREATE OR REPLACE TEMP TABLE key_year AS
    SELECT dx_sub, main, combination, year, count(*) AS n, sum(cost) AS s
    FROM dip GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE core AS
    WITH full_mean AS (
        SELECT dx_sub, main, combination, sum(n) AS n, wmean(s, n, w) AS m
        FROM key_year JOIN years USING (year) GROUP BY ALL),
    main_mean AS (
        SELECT dx_sub, main, wmean(s, n, w) AS m FROM (
            SELECT dx_sub, main, year, sum(n) AS n, sum(s) AS s FROM key_year GROUP BY ALL
        ) JOIN years USING (year) GROUP BY ALL),
    related AS (
        SELECT f.dx_sub, f.combination, f.main
        FROM full_mean f JOIN mk USING (dx_sub, main)
        LEFT JOIN full_mean alone ON alone.dx_sub = f.dx_sub AND alone.main = f.main
                                  AND alone.combination = f.main
        JOIN main_mean mm ON mm.dx_sub = f.dx_sub AND mm.main = f.main
        WHERE f.combination <> f.main AND f.n >= 15
          AND f.m >= 1.1 * coalesce(alone.m, mm.m))
    SELECT dx_sub, main AS combination FROM mk
    UNION ALL SELECT dx_sub, combination FROM related;
"""

ASSIGN = """
CREATE OR REPLACE TEMP TABLE {out} AS
SELECT f.*,
    CASE WHEN c1.dx_sub IS NOT NULL THEN f.dx_sub || '|' || f.combination
         WHEN c2.dx_sub IS NOT NULL THEN f.dx_sub || '|' || f.main
         WHEN c3.dx_sub IS NOT NULL THEN f.dx_sub || '|conservative'
         ELSE f.cat || '|' || f.cls END AS grp
FROM {features} f
LEFT JOIN {core} c1 ON c1.dx_sub = f.dx_sub AND c1.combination = f.combination AND f.combination <> ''
LEFT JOIN {core} c2 ON c2.dx_sub = f.dx_sub AND c2.combination = f.main AND f.main <> ''
LEFT JOIN {core} c3 ON c3.dx_sub = f.dx_sub AND c3.combination = ''
"""

STATS = """
CREATE OR REPLACE TEMP TABLE m_all AS
    SELECT wmean(s, n, w) AS M FROM (SELECT year, count(*) n, sum(cost) s FROM dip GROUP BY ALL)
    JOIN years USING (year);
CREATE OR REPLACE TEMP TABLE k_level AS
    SELECT level, round(wmean(s, n, w) / (SELECT M FROM m_all), 4) AS k FROM (
        SELECT level, year, count(*) n, sum(cost) s FROM dip GROUP BY ALL
    ) JOIN years USING (year) GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE cuts AS
    SELECT grp, count(*) AS n,
           CASE WHEN count(*) >= 25 THEN quantile_cont(cost, 0.025) ELSE -1e300 END AS lo,
           CASE WHEN count(*) >= 25 THEN quantile_cont(cost, 0.975) ELSE 1e300 END AS hi,
           avg(CAST(level = 1 AS DOUBLE)) AS primary_share
    FROM cal_assigned GROUP BY grp;
CREATE OR REPLACE TEMP TABLE trimmed AS
    SELECT a.* FROM cal_assigned a JOIN cuts USING (grp) WHERE a.cost >= lo AND a.cost <= hi;
CREATE OR REPLACE TEMP TABLE groups AS
    WITH gm AS (
        SELECT grp, wmean(s, n, w) AS m FROM (
            SELECT grp, year, count(*) n, sum(cost) s FROM trimmed GROUP BY ALL
        ) JOIN years USING (year) GROUP BY ALL),
    cv AS (SELECT grp, stddev_pop(cost) / avg(cost) AS cv FROM trimmed GROUP BY grp)
    SELECT grp, m, round(m / (SELECT M FROM m_all) * 1000, 4) AS score,
           (grp NOT LIKE '___|%' AND cv.cv <= 0.7 AND cuts.primary_share >= 0.2) AS basic
    FROM gm JOIN cv USING (grp) JOIN cuts USING (grp);
CREATE OR REPLACE TEMP TABLE level_means AS
    SELECT grp, level, wmean(s, n, w) AS m FROM (
        SELECT grp, level, year, count(*) n, sum(cost) s FROM trimmed GROUP BY ALL
    ) JOIN years USING (year) GROUP BY ALL;
CREATE OR REPLACE TEMP TABLE bed_rates AS
    SELECT bed, round(wmean(s, d, w) / (SELECT M FROM m_all) * 1000, 4) AS rate FROM (
        SELECT bed, year, sum(cost) s, sum(los) d FROM hf JOIN years USING (year)
        WHERE bed IS NOT NULL GROUP BY ALL
    ) JOIN years USING (year) GROUP BY ALL;
"""

POINTS = """
CREATE OR REPLACE TEMP TABLE case_points AS
WITH x AS (
    SELECT a.case_id, a.hospital_id, a.pool, a.cost, a.fund, a.los, a.bed,
           g.score AS rw, CASE WHEN g.basic THEN 1.0 ELSE k.k END AS k,
           coalesce(lm.m, g.m) AS base, g.grp IS NOT NULL AS grouped
    FROM cur_assigned a
    LEFT JOIN groups g ON g.grp = a.grp
    LEFT JOIN level_means lm ON lm.grp = a.grp AND lm.level = a.level
    LEFT JOIN k_level k ON k.level = a.level
)
SELECT case_id, hospital_id, pool, cost, fund,
    round(CASE
        WHEN bed IS NOT NULL THEN (SELECT rate FROM bed_rates r WHERE r.bed = x.bed) * los
        WHEN NOT grouped THEN cost / (SELECT M FROM m_all) * 1000 * 0.7
        WHEN cost / base < 0.5 THEN rw * k * least(1.0, cost / (base * k))
        WHEN cost / base > 2.0 THEN rw * k * ((cost / base - 2.0) + 1.0)
        ELSE rw * k END, 4) AS points
FROM x;
CREATE OR REPLACE TEMP TABLE pools AS
    SELECT pool, sum(points) AS P, sum(fund)::DOUBLE / sum(cost) AS f FROM case_points GROUP BY pool;
"""

CCI = """
-- Quan's prefixes are 3 or 4 characters long and none is a prefix of another, so each code
-- matches on one of its two prefixes: an equi-join (hashed) instead of a starts_with scan
WITH s AS (
    SELECT case_id, hospital_id, unnest([substr(code, 1, 3), substr(code, 1, 4)]) AS prefix
    FROM (SELECT case_id, hospital_id, replace(unnest(secondary_dx), '.', '') AS code FROM {source})
),
hit AS (
    SELECT DISTINCT case_id, hospital_id, condition, weight FROM s JOIN quan USING (prefix)
),
h AS (
    SELECT * FROM hit h1 WHERE NOT EXISTS (
        SELECT 1 FROM hit h2 JOIN hierarchy y ON y.severe = h2.condition
        WHERE h2.case_id = h1.case_id AND y.mild = h1.condition)
)
SELECT hospital_id, sum(weight) AS cci FROM h GROUP BY hospital_id
"""


def reference_tables(con: duckdb.DuckDBPyConnection) -> None:
    """The shipped reference data as tables (exclusions, classes, Quan prefixes)."""
    exact, prefixes = refdata.procedure_exclusions()
    con.register("excl_t", pa.table({"code": list(exact) + list(prefixes),
                                     "exact": [True] * len(exact) + [False] * len(prefixes)}))
    classes = refdata.procedure_class_prefixes()
    con.register("cls_t", pa.table({"prefix": list(classes), "cls": list(classes.values())}))
    q = [(name, w, p) for name, w, ps in refdata.charlson_conditions() for p in ps]
    con.register("quan", pa.table({"condition": [r[0] for r in q], "weight": [r[1] for r in q],
                                   "prefix": [r[2] for r in q]}))
    con.register("hierarchy", pa.table({
        "mild": ["diabetes_without_complication", "mild_liver_disease", "malignancy"],
        "severe": ["diabetes_with_complication", "severe_liver_disease", "metastatic_solid_tumour"]}))


def run(history_sql: str, current_sql: str, budget: dict[str, float], con=None) -> dict:
    """Calibrate on ``history_sql`` and settle ``current_sql`` (FROM-clause sources)."""
    con = con or duckdb.connect()
    reference_tables(con)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE code_info AS
        WITH codes AS (
            SELECT DISTINCT unnest(procedures) AS code FROM {history_sql}
            UNION SELECT DISTINCT unnest(procedures) FROM {current_sql})
        SELECT c.code,
               bool_or(e.code IS NOT NULL) AS excluded,
               coalesce(arg_max(k.cls, length(k.prefix)), 'therapeutic') AS cls
        FROM codes c
        LEFT JOIN excl_t e ON (e.exact AND e.code = c.code) OR (NOT e.exact AND starts_with(c.code, e.code))
        LEFT JOIN cls_t k ON starts_with(c.code, k.prefix)
        GROUP BY c.code""")
    con.execute(FEATURES.format(name="hf", source=history_sql))
    con.execute(FEATURES.format(name="cf", source=current_sql))
    con.execute(CALIBRATE)
    con.execute(ASSIGN.format(out="cal_assigned", features="dip", core="core"))
    con.execute(STATS)
    # settlement matches only the core groups that kept cases in calibration
    con.execute("""CREATE OR REPLACE TEMP TABLE core_final AS SELECT * FROM core
                   WHERE dx_sub || '|' || CASE WHEN combination = '' THEN 'conservative'
                                               ELSE combination END IN (SELECT grp FROM groups)""")
    con.execute(ASSIGN.format(out="cur_assigned", features="cf", core="core_final"))
    # comprehensive keys never seen in calibration have no group: ungrouped
    con.execute("UPDATE cur_assigned SET grp = NULL WHERE grp NOT IN (SELECT grp FROM groups)")
    con.execute(POINTS)
    pools = {r[0]: (r[1], r[2]) for r in con.execute("SELECT * FROM pools").fetchall()}
    pv = {p: (budget[p] / f) / P for p, (P, f) in pools.items()}
    rows = con.execute("SELECT hospital_id, pool, sum(points) FROM case_points GROUP BY ALL").fetchall()
    hospitals = {(h, p): {"points": pts, "fund_payable": pts * pv[p] * pools[p][1]} for h, p, pts in rows}
    cci = dict(con.execute(CCI.format(source=current_sql)).fetchall())
    return {"point_value": pv, "hospitals": hospitals, "cci": cci}
