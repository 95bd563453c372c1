"""Usage per seat and month: metering each processing, the limits per cohort, the report."""
