"""Writing to the CRM: what a save writes, the outbox that delivers it, later syncs."""
