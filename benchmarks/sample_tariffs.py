"""The tariff sets the benchmarks put on every snapshot row (the Meter Domain page's JSON)."""

TARIFF = {
    "standing_charge": 0.51082,
    "unit_rate_element_a": 0.2843,
    "unit_rate_element_b": 0.15,
    "prepayment_ecredit_availability": 10.0,
    "prepayment_debt_recovery_rate": 0.25,
    "prepayment_emergency_credit": 15.0,
}
FUTURE = {**TARIFF, "standing_charge": 0.5868, "activation_datetime": "2026-12-01T00:00:00"}
