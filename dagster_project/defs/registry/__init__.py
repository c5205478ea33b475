"""The meter registry: the asset that loads the operator's registry file."""
