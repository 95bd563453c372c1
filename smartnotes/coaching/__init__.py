"""The deal coach on a ready run: next steps, objections and sentiment, kept on the run."""
