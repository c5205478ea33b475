"""Data checks on the sync and the marts: raw expectations, fleet health, freshness."""
