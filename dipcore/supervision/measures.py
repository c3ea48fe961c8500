"""The case-mix adjusted indicators of supervision and the flags they raise (SPEC.md 11).

Each :class:`Measure` is a per-case value summed over a hospital's cases and compared,
by indirect standardisation (``dipcore.supervision.statistics``), with what the region's
hospitals of the same level would have had with the same case mix. The *stratification*
says which cases are alike:

``group``
    the case's group (DIP group, or DRG) -- for what the group itself should explain:
    low-standard admissions, high-cost outliers, points per case;
``severity``
    the group *before* severity: the DIP group (severity raises a DIP case's auxiliary
    subtype, not its group) or the ADRG (CC/MCC moves a DRG case to a dearer DRG of the same
    ADRG) -- so a hospital that codes more comorbidity is compared with the same base groups;
``diagnosis``
    the main diagnosis category (3 characters) -- for what the procedures decide: the
    surgical-group share, CMI and cost per case (a coded operation moves a case to another
    group, but not to another diagnosis);
``payment``
    the group and the pool -- the patient-paid share depends on the pool's reimbursement
    ratio as much as on the group (the measure is the mean of the cases' own shares, so a
    case counts once whatever its cost; the appraisal column ``patient_paid_share`` is the
    share of the hospital's whole cost);
``readmission``
    the diagnosis category of every stay (the readmission rule of SPEC 8 is by category).

Peer comparison: with ``audit_peer_level`` (default) each stratum is also split by
hospital level, so a hospital is compared with hospitals of its own level (同级别医院), as
bureaus compare them; the outlier classes are already relative to level means.

Flags (SPEC 11 "signals, with the behaviour behind them"); a growth test also needs the
hospital above its peers this year (O/E > 1: a rise back from a low year is not an excess):

* ``split_admission``: the rate of readmissions to the same hospital (of stays with a
  patient id), by level;
* ``low_standard``: low-standard share, by level;
* ``upcoding_diagnosis``: severe share, secondary diagnoses per case, CC/MCC share (DRG),
  by level and by growth;
* ``upcoding_procedure``: surgical-group share by growth, *while* cost per case (same
  diagnosis mix) does not rise significantly -- a real shift to surgery costs more; or the
  share of cases in surgical groups paid as low-cost (an operation recorded without the
  cost of one: what "cost per case does not rise" looks like within a group), by level and
  by growth;
* ``point_inflation``: high-cost outlier share by level and by growth (a hospital padding
  bills over the high-cost threshold year after year shows as a level); beside a rising
  high-cost share, points per case rising *faster than cost per case* join the evidence
  (points that rise with cost are paying for cost; alone, points per case is too
  heavy-tailed at a small hospital -- a few dear cases -- to accuse anyone with). Growth is
  against the previous year's own ratio, so a hospital is compared with its past and,
  through E, with the region's change; points per case is not tested by level, where
  hospital coefficients differ;
* ``cost_shifting``: patient-paid share, by growth.

CMI and cost per case are reported (O/E, z) but raise no flag of their own: a high CMI or
cost is what a tertiary hospital's patients may need.
"""
from __future__ import annotations

from dataclasses import dataclass

#: A severe case has a Charlson index of at least this (SPEC 8 "share of severe cases").
SEVERE_CCI = 3

#: Stratifications and the per-(hospital, stratum) sum columns each carries.
STRATIFICATIONS = ("group", "severity", "diagnosis", "payment", "readmission")


@dataclass(frozen=True)
class Measure:
    """One supervision indicator.

    Attributes
    ----------
    name : str
        Indicator name (column prefix in ``Audit.hospitals``).
    strata : str
        Its stratification (one of ``STRATIFICATIONS``).
    column : str
        The sum column of the stratification's table with the per-case value.
    event : bool
        A 0/1 event per case (binomial variance); otherwise an amount with a
        ``{column}_sq`` sum of squares (group variance).
    unit : float
        The per-case value of ``column`` is ``sum / unit`` in the indicator's unit (cost in
        fen -> yuan: 100).
    sq_unit : float
        The squares are of the value in units of ``sq_unit`` (coarser, so that they fit in
        int64 exactly): ``x**2 = q**2 * sq_unit**2``.
    flag : str or None
        The flag it raises.
    tests : tuple of str
        Which tests raise the flag: ``"level"``, ``"growth"``.
    unless : str or None
        A test of this measure does not raise the flag when the same test of the measure
        named here explains it (``unless_rule``); otherwise its row joins the evidence.
    requires : str or None
        A test of this measure counts only where the same test of the measure named here
        passed too (it adds its evidence to that measure's, and raises nothing alone).
    unless_rule : {"rises", "as_fast"}
        ``"rises"``: explained when that measure rose beyond the control limit;
        ``"as_fast"``: explained when its effect (O/E, or growth of O/E) is at least this
        measure's.
    schemes : tuple of str
        Schemes it applies to.
    """

    name: str
    strata: str
    column: str
    event: bool
    unit: float = 1.0
    sq_unit: float = 1.0
    flag: str | None = None
    tests: tuple[str, ...] = ()
    requires: str | None = None
    unless: str | None = None
    unless_rule: str = "rises"
    schemes: tuple[str, ...] = ("dip", "drg")


#: The indicators of SPEC 11, in report order.
MEASURES = (
    Measure("severe_share", "severity", "severe", True, flag="upcoding_diagnosis",
            tests=("level", "growth")),
    Measure("secondary_per_case", "severity", "secondary", False, flag="upcoding_diagnosis",
            tests=("level", "growth")),
    Measure("cc_mcc_share", "severity", "cc", True, flag="upcoding_diagnosis",
            tests=("level", "growth"), schemes=("drg",)),
    Measure("same_hospital_readmission_rate", "readmission", "readmissions", True,
            flag="split_admission", tests=("level",)),
    Measure("low_standard_share", "group", "low_standard", True, flag="low_standard",
            tests=("level",)),
    Measure("high_outlier_share", "group", "high", True, flag="point_inflation",
            tests=("level", "growth")),
    Measure("points_per_case", "group", "points", False, unit=1e4, sq_unit=1e2,
            flag="point_inflation", tests=("growth",), requires="high_outlier_share",
            unless="cost_per_case", unless_rule="as_fast"),
    Measure("patient_paid_share", "payment", "patient_paid", False, unit=1e6,
            flag="cost_shifting", tests=("growth",)),
    Measure("surgical_share", "diagnosis", "surgical", True, flag="upcoding_procedure",
            tests=("growth",), unless="cost_per_case"),
    Measure("surgical_low_cost_share", "group", "surgical_low", True,
            flag="upcoding_procedure", tests=("level", "growth")),
    Measure("cmi", "diagnosis", "rw", False, unit=1e4, sq_unit=1e2),
    Measure("cost_per_case", "diagnosis", "cost", False, unit=1e2, sq_unit=1e2),
)

#: Flags in report order.
FLAGS = ("split_admission", "low_standard", "upcoding_diagnosis", "upcoding_procedure",
         "point_inflation", "cost_shifting")

def measures_for(scheme: str) -> tuple[Measure, ...]:
    """The measures that apply to a scheme's cases."""
    return tuple(m for m in MEASURES if scheme in m.schemes)


def sum_columns(strata: str) -> tuple[str, ...]:
    """The sum columns of a stratification's table (after ``cases``): each measure's value
    and, for amounts, the two int64 halves of its squares."""
    out: list[str] = []
    for m in MEASURES:
        if m.strata == strata:
            out.append(m.column)
            if not m.event:
                out += [f"{m.column}_sq_hi", f"{m.column}_sq_lo"]
    return tuple(out)
