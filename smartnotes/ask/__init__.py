"""Answering a rep's free questions from their past calls, every answer with its sources."""
