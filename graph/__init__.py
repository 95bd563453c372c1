"""Microsoft Graph: meeting transcripts and recordings, users' calendar views (``calendar``),
change-notification subscriptions and their validation. Imports nothing of ours.
Change notifications: `notifications` (handshake, parsing, clientState), `validation_tokens`
(validationTokens JWTs), `rich_notifications` (decrypting resource data)."""
