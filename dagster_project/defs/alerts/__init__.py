"""Alerts: the sensor that notifies low-balance and offline episodes."""
