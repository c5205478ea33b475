"""Flows: a meter-data pipeline for Emlite prepayment electricity meters."""
