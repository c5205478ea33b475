"""The rules the data checks apply: fleet health, writes, raw expectations."""
