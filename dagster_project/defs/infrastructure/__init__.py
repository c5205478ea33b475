"""The infrastructure around the meters: the operator's files of ESCOs, sites, feeders, service
heads and circuits landed by one asset, and the checks on the marts built from them (meters not
placed, service heads over their phases, overlapping circuit links, feeders over rating)."""
