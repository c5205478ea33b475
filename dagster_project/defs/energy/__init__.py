"""Half-hourly energy: the job that builds the energy marts after the daily logs land, and the
checks on them (completeness by UK day, negative and out-of-range half-hours, stuck registers)."""
