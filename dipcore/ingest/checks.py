"""The row checks of ingest, in the order they run, and their quarantine reason codes.

A row goes to the quarantine under the first check of :data:`CHECKS` it fails; the checks
run in one kernel pass over the columns (``dipcore._kernels.validate.first_failed_check``,
numbered as this table).
"""
from __future__ import annotations

REASONS = {
    "wrong_field_count": "the row does not have as many fields as the header",
    "bad_encoding": "bytes that are not valid in the file's encoding",
    "missing_case_id": "no case id",
    "duplicate_case_id": "the case id was already seen in an earlier row",
    "missing_hospital": "no hospital id",
    "unknown_hospital": "the hospital is not in the registry",
    "bad_hospital_level": "hospital level is not 1, 2 or 3",
    "unknown_pool": "pool is not employee or resident",
    "bad_date": "a date that cannot be read or does not exist",
    "discharge_before_admission": "discharge date before admission date",
    "bad_number": "a number that cannot be read",
    "bad_age": "age outside 0-130 years (or 0-365 days)",
    "bad_sex": "sex is not 1, 2 or 9",
    "missing_primary_dx": "no principal diagnosis",
    "malformed_diagnosis": "a diagnosis code that is not ICD-10 (medical-insurance edition)",
    "malformed_procedure": "a procedure code that is not ICD-9-CM-3 (medical-insurance edition)",
    "nonfinite_cost": "a cost that is NaN or infinite",
    "negative_cost": "a negative cost",
    "absurd_cost": "a cost of 1e9 yuan or more",
    "fund_exceeds_total": "fund_paid above total_cost",
    "bad_discharge_way": "discharge way is not one of 1, 2, 3, 4, 5, 9",
    "bad_bed_day_category": "bed-day category is not psychiatric, rehabilitation or hospice",
    "bad_value": "a value outside its valid range",
    "unknown_code": "a code that is not in the official code list",
}

#: The row checks in the order they run: (reason, column, what the message shows).
#: ``shown``: ``""`` nothing, ``raw`` the value as given, ``text`` the trimmed text,
#: ``item`` the first malformed item of a list. Numbered as ``first_failed_check`` tests.
CHECKS = (
    ("missing_case_id", "case_id", ""),                          # 0
    ("duplicate_case_id", "case_id", "text"),
    ("missing_hospital", "hospital_id", ""),
    ("unknown_hospital", "hospital_id", "text"),
    ("bad_hospital_level", "hospital_level", "raw"),
    ("bad_hospital_level", "hospital_level", "raw"),             # 5: level not 1-3
    ("unknown_pool", "pool", "text"),
    ("bad_date", "admission_date", "raw"),
    ("bad_date", "discharge_date", "raw"),
    ("discharge_before_admission", "discharge_date", "raw"),
    ("bad_number", "age_years", "raw"),                          # 10
    ("bad_age", "age_years", "raw"),
    ("bad_number", "age_days", "raw"),
    ("bad_age", "age_days", "raw"),
    ("bad_sex", "sex", "raw"),
    ("bad_number", "birth_weight_g", "raw"),                     # 15
    ("bad_value", "birth_weight_g", "raw"),
    ("missing_primary_dx", "primary_dx", ""),
    ("malformed_diagnosis", "primary_dx", "raw"),
    ("malformed_diagnosis", "secondary_dx", "item"),
    ("malformed_procedure", "procedures", "item"),               # 20
    ("bad_number", "total_cost", "raw"),
    ("nonfinite_cost", "total_cost", "raw"),
    ("negative_cost", "total_cost", "raw"),
    ("absurd_cost", "total_cost", "raw"),
    ("bad_number", "fund_paid", "raw"),                          # 25
    ("nonfinite_cost", "fund_paid", "raw"),
    ("negative_cost", "fund_paid", "raw"),
    ("absurd_cost", "fund_paid", "raw"),
    ("fund_exceeds_total", "fund_paid", "raw"),
    ("bad_discharge_way", "discharge_way", "raw"),               # 30
    ("bad_bed_day_category", "bed_day_category", "text"),
    ("bad_number", "icu_days", "raw"),
    ("bad_value", "icu_days", "raw"),
    # checked after the kernel, on rows that passed everything else, with a code list
    # (``dipcore.ingest.codelist``); the message shows the code in its canonical form
    ("unknown_code", "primary_dx", ""),                          # 34
    ("unknown_code", "secondary_dx", ""),
    ("unknown_code", "procedures", ""),
)
#: Number of the first code-list check (then secondary diagnoses, procedures).
UNKNOWN_CODE = 34
#: Check numbers from here on are bad encodings: ``ENCODING + column position``.
ENCODING = 1000
