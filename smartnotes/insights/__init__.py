"""Success metrics for a tenant's admin: adoption, activity, task outcomes, edits, feedback."""
