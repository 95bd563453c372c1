"""Teams: the bot's backend, the run cards, and the runtime built from settings."""
