"""Durable state: runs, their steps, tasks, feedback, CRM writes (the outbox), the audit log,
tenants, users and seats; SQLite by default, PostgreSQL in production."""
