"""The fleet sync: the partitioned sync asset, its jobs (whole pipeline or fanned out), the
15-minute schedules and the sensor that follows a fanned-out cycle."""
