"""Typed application keys: what handlers find on the app."""

from __future__ import annotations

from aiohttp import web

from smartnotes.service import Service
from smartnotes.settings import Settings

SERVICE = web.AppKey("service", Service)
SETTINGS = web.AppKey("settings", Settings)
