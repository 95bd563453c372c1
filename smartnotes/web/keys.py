"""Typed application keys: what handlers find on the app."""

from __future__ import annotations

from aiohttp import web

from smartnotes.service import Service

SERVICE = web.AppKey("service", Service)
