"""Teams bot: activity handling, proactive post-call cards and card actions (Microsoft 365
Agents SDK). May import ``cards`` and ``pipeline`` types, never ``smartnotes``."""
