"""The HTTP service: the review API, its event stream, health checks, and the app factory."""
