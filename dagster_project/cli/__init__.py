"""The `flows` command, one module per command group."""
