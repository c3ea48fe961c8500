"""A hospital's statement explained line by line: each amount of the statement table beside
the rule that produced it, written with the numbers that went in (SPEC.md section 7).

The amounts are the settlement's own (``dipcore.payment.settlement``); nothing here pays
anything. The two sums of the statement are checked with the rules of
``dipcore.payment.statements`` so a report never shows an equation that does not hold.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dipcore.payment import statements as rules
from dipcore.policy import Policy
from dipcore.reports import formats as fmt
from dipcore.reports.i18n import Labels
from dipcore.reports.inputs import fen


@dataclass(frozen=True)
class Line:
    """One line of an explained statement.

    Attributes
    ----------
    key : str
        The statement column (``dip_amount``, ``fund_payable`` ...).
    label : str
    value : str
        The amount as shown (money, points, a coefficient).
    formula : str
        The rule with its numbers.
    total : bool
        A line that sums others (shown in bold).
    holds : bool
        False when the statement's numbers do not satisfy the rule (then the report says so).
    """

    key: str
    label: str
    value: str
    formula: str
    total: bool = False
    holds: bool = True


def _yuan(fen_amount: int) -> str:
    return fmt.money(Decimal(fen_amount) / 100)


def _bands(policy: Policy, t: Labels) -> str:
    return "; ".join(t("fx_band", upto=fmt.percent(upto, 0), share=fmt.percent(share, 0))
                     for upto, share in policy.sharing_bands)


def explain(row: dict[str, Any], pool: dict[str, Any], policy: Policy | None,
            amount_column: str, months: tuple[int, int, int] | None, t: Labels) -> list[Line]:
    """The lines of one statement (one hospital, one pool).

    Parameters
    ----------
    row : dict
        The statement row (``hospitals.parquet``).
    pool : dict
        The pool's row (``pools.parquet``): point value, fund ratio, mode.
    policy : Policy or None
        The settlement's policy (None: the rules are named without their parameters).
    amount_column : str
        ``dip_amount`` or ``drg_amount``.
    months : (count, prepayments, reserve) or None
        The hospital's monthly prepayment rows in the pool: how many, and their sums in fen.
    t : Labels

    Returns
    -------
    list of Line
    """
    D, C = fen(row[amount_column]), fen(row["total_cost"])
    base, adj = fen(row["fund_base"]), fen(row["appraisal_adjustment"])
    ded, share, claw = fen(row["deductions"]), fen(row["sharing"]), fen(row["surplus_clawback"])
    F, prepaid, advance = fen(row["fund_payable"]), fen(row["prepaid"]), fen(row["advance"])
    balance, patient = fen(row["balance"]), fen(row["patient_paid"])
    f = float(pool["fund_ratio"])
    pv = fmt.number(row["point_value"], 6)
    P = fmt.points(row["points"])
    f_text = fmt.number(f, 6)
    exact = policy is None or policy.allocation == "exact"

    lines = [
        Line("points", t("line_points"), P, t("fx_points")),
        Line("point_value", t("line_pv"), pv, t("fx_pv", pool=t.name("pool", row["pool"]))),
        Line(amount_column, t(amount_column), _yuan(D),
             t("fx_dip_exact" if exact else "fx_dip_round", P=P, PV=pv, D=_yuan(D)), True),
        Line("total_cost", t("cost"), _yuan(C), t("fx_cost")),
        Line("gain", t("gain"), fmt.money(row["gain"]),
             t("fx_gain", D=_yuan(D), C=_yuan(C), G=fmt.money(row["gain"])),
             holds=fen(row["gain"]) == D - C),
    ]
    # fund base: D x f allocated (ratio) or D minus the patients' payments
    if policy is None:
        base_text = t("fx_base_unknown")
    elif policy.fund_share_method == "patient_payments":
        base_text = t("fx_base_patient", D=_yuan(D), patient=_yuan(patient), base=_yuan(base))
    elif exact:
        base_text = t("fx_base_ratio_exact", D=_yuan(D), f=f_text, base=_yuan(base),
                      budget_note=t("fx_base_budget_note") if policy.pv_mode == "floating"
                      else "")
    else:
        base_text = t("fx_base_ratio_round", D=_yuan(D), f=f_text, base=_yuan(base))
    c = row["appraisal_coefficient"]
    lines += [
        Line("fund_base", t("fund_base"), _yuan(base), base_text),
        Line("appraisal_coefficient", t("appraisal_coefficient"), fmt.number(c, 4), ""),
        Line("appraisal_adjustment", t("appraisal_adjustment"), _yuan(adj),
             t("fx_appraisal", base=_yuan(base), c=fmt.number(c, 4), adj=_yuan(adj))),
        Line("deductions", t("deductions"), _yuan(ded), t("fx_deductions")),
        Line("sharing", t("sharing"), _yuan(share), _sharing_text(policy, D, C, f_text, share, t)),
        Line("surplus_clawback", t("surplus_clawback"), _yuan(claw),
             _clawback_text(policy, D, C, f_text, claw, t)),
    ]
    payable_holds = rules.fund_payable(base, adj, ded, share, claw) == F
    lines.append(Line("fund_payable", t("fund_payable"), _yuan(F),
                      t("fx_payable", base=_yuan(base), adj=_yuan(adj), ded=_yuan(ded),
                        share=_yuan(share), claw=_yuan(claw), F=_yuan(F)),
                      True, payable_holds))
    from_months = months is not None and months[1] == prepaid
    lines += [
        Line("prepaid", t("prepaid"), _yuan(prepaid),
             t("fx_prepaid_months", months=months[0]) if from_months else t("fx_prepaid_given")),
        Line("reserve_withheld", t("reserve_withheld"), fmt.money(row["reserve_withheld"]),
             t("fx_reserve")),
        Line("advance", t("advance"), _yuan(advance), t("fx_advance")),
        Line("balance", t("balance"), _yuan(balance),
             t("fx_balance", F=_yuan(F), prepaid=_yuan(prepaid), advance=_yuan(advance),
               B=_yuan(balance)), True, rules.balance(F, prepaid, advance) == balance),
    ]
    return lines


def _sharing_text(policy: Policy | None, D: int, C: int, f: str, amount: int, t: Labels) -> str:
    """SPEC 7 reasonable overspend shared, by the policy's bands."""
    if policy is None:
        return t("fx_unknown_policy")
    if not policy.sharing_bands:
        return t("fx_sharing_none")
    if C <= D:
        return t("fx_sharing_no_over")
    return t("fx_sharing", over=_yuan(C - D), bands=_bands(policy, t), f=f, amount=_yuan(amount))


def _clawback_text(policy: Policy | None, D: int, C: int, f: str, amount: int,
                   t: Labels) -> str:
    """SPEC 7 surplus retained up to the policy's cap."""
    if policy is None:
        return t("fx_unknown_policy")
    if policy.surplus_cap is None:
        return t("fx_clawback_none")
    if D < C:
        return t("fx_clawback_no_surplus")
    limit = Decimal(str(policy.surplus_cap)) * D / 100
    return t("fx_clawback", surplus=_yuan(D - C), cap=fmt.percent(policy.surplus_cap, 0),
             limit=fmt.money(limit.quantize(Decimal("0.01"))), f=f, amount=_yuan(amount))
