"""PostgreSQL: connection settings, the embedded server, raw-table DDL and loaders."""
