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

import numpy as np

from dipcore.payment.allocation import round_fen, round_products
from dipcore.policy import Policy


def fund_base(policy: Policy, allocated_base, dip_amount, patient_paid):
    """SPEC 7: the fund's part of D_h before appraisal: ``ratio`` takes the allocated
    D_h x f; ``patient_payments`` takes D_h minus what the patients paid (fen: integers,
    or int64 arrays of the statements)."""
    if policy.fund_share_method == "ratio":
        return allocated_base
    return dip_amount - patient_paid


def appraisal_adjustments(bases: np.ndarray, at: np.ndarray,
                          coefficients: list[Fraction]) -> np.ndarray:
    """SPEC 7: base x (c_h - 1) of each statement, half away from zero to the fen, exactly
    (c_h = 1: nothing). ``coefficients`` are the distinct c_h, ``at`` each statement's."""
    minus_one = [c - 1 for c in coefficients]
    return round_products(bases, at, [(m.numerator, m.denominator) for m in minus_one])


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


def sharing_each(policy: Policy, dip_amounts: np.ndarray, costs: np.ndarray,
                 fund_ratios: list[Fraction], at: np.ndarray) -> np.ndarray:
    """:func:`overspend_sharing` of each statement, int64, its fund ratio
    ``fund_ratios[at[i]]`` (its pool's; no bands: none for any)."""
    if not policy.sharing_bands:
        return np.zeros(len(dip_amounts), np.int64)
    return np.array([overspend_sharing(policy, d, c, fund_ratios[k]) for d, c, k in
                     zip(dip_amounts.tolist(), costs.tolist(), at.tolist())], np.int64)


def clawback_each(policy: Policy, dip_amounts: np.ndarray, costs: np.ndarray,
                  fund_ratios: list[Fraction], at: np.ndarray) -> np.ndarray:
    """:func:`surplus_clawback` of each statement, int64, its fund ratio
    ``fund_ratios[at[i]]`` (its pool's; no ``surplus_cap``: none for any)."""
    if policy.surplus_cap is None:
        return np.zeros(len(dip_amounts), np.int64)
    return np.array([surplus_clawback(policy, d, c, fund_ratios[k]) for d, c, k in
                     zip(dip_amounts.tolist(), costs.tolist(), at.tolist())], np.int64)


def fund_payable(base, adjustment, deductions, sharing, clawback):
    """SPEC 7: F_h = base + appraisal adjustment - deductions + sharing - clawback (fen:
    integers, or int64 arrays of the statements)."""
    return base + adjustment - deductions + sharing - clawback


def balance(payable, prepaid, advance):
    """SPEC 7 year-end balance: F_h - prepayments - advance (fen: integers, or int64 arrays
    of the statements)."""
    return payable - prepaid - advance
