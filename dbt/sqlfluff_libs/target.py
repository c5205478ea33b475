"""dbt's `target` for sqlfluff's Jinja templater. Not used by dbt itself."""

database = "flows"
schema = "flows"
