"""Teams meetings through Microsoft Graph: the inbox, downloads, subscriptions, catch-up
and meeting-end polls."""
