"""dbt's `api` for sqlfluff's Jinja templater (.sqlfluff: library_path): sqlfluff renders the
models without dbt and stands in for dbt's ref(), source(), var() and the like, but not for
`api`, which names the tables that are not dbt sources (macros/history.sql, the sync verdicts in
stg_flows_raw__meter_sync_snapshots.sql). Not used by dbt itself.
"""


class Relation:
    @staticmethod
    def create(database=None, schema=None, identifier=None, **kwargs):
        # A relation renders as its table's name, as sqlfluff's ref() and source() do.
        return identifier
