"""The write path: operator inputs, the asset that pushes tariffs and tokens, and its checks."""
