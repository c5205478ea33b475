"""The daily meter logs: profile log 1 and the event log, their job and schedule."""
