"""The CRM contract, the adapter registry and the built-in adapters. Imports nothing of ours."""
