"""Behind an ingress (Azure Container Apps, a load balancer, nginx): the client's address, the
scheme and the host it used, from the ``X-Forwarded-*`` headers the proxy adds.

Only a proxy we trust may say so: the headers are honoured when the connection comes from an
address in ``SMARTNOTES_FORWARDED_ALLOW_IPS`` (addresses or networks, or ``*`` where nothing but
the ingress can reach the service), and ignored otherwise, since anyone can send them. Each
proxy appends to ``X-Forwarded-For``; the last entry is the one our proxy saw, the only one it
vouches for. Values that are not an address, ``http``/``https`` or a host name are ignored.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()
    everyone: bool = False

    @classmethod
    def parse(cls, value: str) -> TrustedProxies:
        """``"10.0.0.0/8, 127.0.0.1"`` or ``"*"``; a ValueError names an entry that is neither."""
        words = [w for w in re.split(r"[,\s]+", value) if w]
        if "*" in words:
            return cls(everyone=True)
        networks = []
        for word in words:
            try:
                networks.append(ipaddress.ip_network(word, strict=False))
            except ValueError:
                raise ValueError(f"not an address or network: {word!r}") from None
        return cls(networks=tuple(networks))

    def __bool__(self) -> bool:
        return self.everyone or bool(self.networks)

    def trusts(self, peer: str | None) -> bool:
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        return any(address in network for network in self.networks)


def forwarded_middleware(trusted: TrustedProxies) -> Callable[..., Any]:
    @web.middleware
    async def forwarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        if trusted.trusts(request.remote):
            remote, scheme, host = _forwarded(request)
            if remote or scheme or host:
                request = request.clone(
                    remote=remote or request.remote or "",
                    scheme=scheme or request.scheme,
                    host=host or request.host,
                )
        return await handler(request)

    return forwarded


def _last(request: web.Request, header: str) -> str:
    values = ",".join(request.headers.getall(header, []))
    return values.rsplit(",", 1)[-1].strip()


def _forwarded(request: web.Request) -> tuple[str | None, str | None, str | None]:
    """The client's address, scheme and host as the proxy reports them; None where the proxy
    said nothing usable."""
    try:
        remote: str | None = str(ipaddress.ip_address(_last(request, "X-Forwarded-For")))
    except ValueError:
        remote = None
    scheme = _last(request, "X-Forwarded-Proto").lower()
    host = _last(request, "X-Forwarded-Host")
    return (
        remote,
        scheme if scheme in ("http", "https") else None,
        host if _HOST.match(host) else None,
    )
