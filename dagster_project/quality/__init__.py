"""Data-quality rules: fleet-health verdicts and expectation suites on the raw landing tables."""
