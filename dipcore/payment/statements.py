"""The lines of a hospital's statement (SPEC.md section 7), one rule each.

All amounts are integer fen; each rule states its rounding. The order of the lines is the
statement's: DIP amount D_h (allocated, ``dipcore.payment.allocation``), fund base, appraisal
adjustment, deductions, sharing or clawback, fund payable, prepaid, balance.

=========================  ====================================  ==========================
line                       rule                                  knob
=========================  ====================================  ==========================
fund base                  D_h x f (allocated), or D_h minus     ``fund_share_method``
                           the patients' payments
appraisal adjustment       base x (c_h - 1)                      appraisal table
surplus clawback           the surplus above ``surplus_cap`` of  ``surplus_cap``
                           D_h, in fund terms (x f)
overspend sharing          the fund's share of each band of      ``sharing_bands``
                           overspend, in fund terms (x f)
fund payable               base + adjustment - deductions +      -
                           sharing - clawback
balance                    payable - prepaid - advance           prepaid table
=========================  ====================================  ==========================
"""
from __future__ import annotations

from fractions import Fraction

from dipcore.payment.allocation import round_fen
from dipcore.policy import Policy


def fund_base(policy: Policy, allocated_base: int, dip_amount: int, patient_paid: int) -> int:
    """SPEC 7: the fund's part of D_h before appraisal: ``ratio`` takes the allocated
    D_h x f; ``patient_payments`` takes D_h minus what the patients paid."""
    if policy.fund_share_method == "ratio":
        return allocated_base
    return dip_amount - patient_paid


def appraisal_adjustment(base: int, coefficient: Fraction) -> int:
    """SPEC 7: base x (c_h - 1), half away from zero to the fen (c_h = 1: nothing)."""
    if coefficient == 1:
        return 0
    return round_fen(base * (coefficient - 1))


def surplus_clawback(policy: Policy, dip_amount: int, cost: int, fund_ratio: Fraction) -> int:
    """SPEC 7 surplus retained: when D_h >= C_h the hospital keeps the surplus, at most
    ``surplus_cap`` of D_h; the excess is clawed back in fund terms (x f), rounded to the fen."""
    if dip_amount < cost or policy.surplus_cap is None:
        return 0
    excess = (dip_amount - cost) - Fraction(str(policy.surplus_cap)) * dip_amount
    return round_fen(excess * fund_ratio) if excess > 0 else 0


def overspend_sharing(policy: Policy, dip_amount: int, cost: int, fund_ratio: Fraction) -> int:
    """SPEC 7 reasonable overspend shared: when C_h > D_h the fund pays ``share`` of each
    band of overspend up to ``upto`` x D_h (``sharing_bands``), in fund terms (x f), rounded
    to the fen. No bands: no sharing."""
    if cost <= dip_amount or not policy.sharing_bands:
        return 0
    over = Fraction(cost - dip_amount)
    shared = Fraction(0)
    lower = Fraction(0)
    for upto, share in policy.sharing_bands:
        upper = Fraction(str(upto)) * dip_amount
        part = max(Fraction(0), min(over, upper) - lower)
        shared += part * Fraction(str(share))
        lower = upper
    return round_fen(shared * fund_ratio)


def sharing_each(policy: Policy, dip_amounts: list[int], costs: list[int],
                 fund_ratios: list[Fraction]) -> list[int]:
    """:func:`overspend_sharing` of each statement (no bands: none for any)."""
    if not policy.sharing_bands:
        return [0] * len(dip_amounts)
    return [overspend_sharing(policy, d, c, f) for d, c, f in zip(dip_amounts, costs, fund_ratios)]


def clawback_each(policy: Policy, dip_amounts: list[int], costs: list[int],
                  fund_ratios: list[Fraction]) -> list[int]:
    """:func:`surplus_clawback` of each statement (no ``surplus_cap``: none for any)."""
    if policy.surplus_cap is None:
        return [0] * len(dip_amounts)
    return [surplus_clawback(policy, d, c, f) for d, c, f in zip(dip_amounts, costs, fund_ratios)]


def fund_payable(base: int, adjustment: int, deductions: int, sharing: int, clawback: int) -> int:
    """SPEC 7: F_h = base + appraisal adjustment - deductions + sharing - clawback."""
    return base + adjustment - deductions + sharing - clawback


def balance(payable: int, prepaid: int, advance: int) -> int:
    """SPEC 7 year-end balance: F_h - prepayments - advance."""
    return payable - prepaid - advance
