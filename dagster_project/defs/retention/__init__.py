"""Raw snapshot retention: the daily job and its schedule."""
