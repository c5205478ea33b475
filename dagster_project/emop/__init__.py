"""EMOP, the Emlite Object Protocol: frames, value codecs, an asyncio client and a meter simulator.

Protocol only: nothing here imports Dagster or SQL, so it serves as a library and from the CLI.
"""
