"""Search across a rep's calls: the index of notes, tasks and transcripts, and its queries."""
