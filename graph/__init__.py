"""Microsoft Graph: meeting transcripts and recordings, change-notification subscriptions and
their validation. Imports nothing of ours."""
