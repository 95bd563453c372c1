"""Call transcripts in, a streamed summary and grounded CRM tasks out.

This package knows nothing about storage, Teams or CRMs: every step is a function (or a small
object holding a loaded model) that takes plain data and returns plain data, so it can be
driven from the CLI, the job runner or a REPL alike.
"""
