"""Domain rules and types: pure Python, no SQL, no Dagster."""
