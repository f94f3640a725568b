"""Whether a webhook may be sent to an IP address: public (globally reachable) addresses only.

An IPv6 address that carries an IPv4 address inside it (IPv4-mapped, IPv4-translated, IPv4-compatible, NAT64, 6to4,
Teredo) reaches that IPv4 host through a translator or tunnel, so it is judged by the embedded address: otherwise
`[64:ff9b::a9fe:a9fe]` would be a way to 169.254.169.254. Python's own `is_global` misses several of these forms
and some non-global ranges, hence the explicit lists below.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

# Not globally reachable, yet `is_global` says so on some Python versions (IANA special-purpose registries).
NOT_GLOBAL_V4 = (
    IPv4Network("0.0.0.0/8"),
    IPv4Network("100.64.0.0/10"),  # carrier-grade NAT
    IPv4Network("192.0.0.0/24"),  # IETF protocol assignments
    IPv4Network("192.88.99.0/24"),  # 6to4 relay anycast (deprecated)
    IPv4Network("224.0.0.0/4"),  # multicast
    IPv4Network("240.0.0.0/4"),
)
NOT_GLOBAL_V6 = (
    IPv6Network("64:ff9b:1::/48"),  # NAT64 local-use prefix: translates into the operator's own network
    IPv6Network("100::/64"),  # discard-only
    IPv6Network("2001:db8::/32"),  # documentation
    IPv6Network("3fff::/20"),  # documentation
    IPv6Network("5f00::/16"),  # SRv6 segment identifiers
    IPv6Network("fc00::/7"),  # unique local
    IPv6Network("fe80::/10"),  # link-local
    IPv6Network("fec0::/10"),  # site-local (deprecated)
    IPv6Network("ff00::/8"),  # multicast
)
MAPPED = IPv6Network("::ffff:0:0/96")  # ::ffff:a.b.c.d
TRANSLATED = IPv6Network("::ffff:0:0:0/96")  # ::ffff:0:a.b.c.d (SIIT)
COMPATIBLE = IPv6Network("::/96")  # ::a.b.c.d (deprecated), also :: and ::1
NAT64 = IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix
SIX_TO_FOUR = IPv6Network("2002::/16")  # 2002:AABB:CCDD::/48 for a.b.c.d
TEREDO = IPv6Network("2001::/32")  # server in bits 32-63, client inverted in the last 32


def embedded_ipv4(address: IPv6Address) -> list[IPv4Address] | None:
    """The IPv4 addresses an IPv6 address reaches through a translator or tunnel; None when it embeds none."""
    low32 = IPv4Address(int(address) & 0xFFFFFFFF)
    if address in MAPPED or address in TRANSLATED or address in COMPATIBLE or address in NAT64:
        return [low32]
    if address in SIX_TO_FOUR:
        return [IPv4Address((int(address) >> 80) & 0xFFFFFFFF)]
    if address in TEREDO:
        server = IPv4Address((int(address) >> 64) & 0xFFFFFFFF)
        client = IPv4Address(~int(address) & 0xFFFFFFFF)
        return [server, client]
    return None


def is_public(address: str | IPv4Address | IPv6Address) -> bool:
    """True only for an address a webhook may be sent to: globally reachable, judged by any embedded IPv4 address."""
    if isinstance(address, str):
        try:
            address = ipaddress.ip_address(address.split("%", 1)[0])  # a scope id (fe80::1%eth0) says nothing more
        except ValueError:
            return False
    if isinstance(address, IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            return all(_public_v4(v4) for v4 in inner)
        return address.is_global and not any(address in net for net in NOT_GLOBAL_V6)
    return _public_v4(address)


def _public_v4(address: IPv4Address) -> bool:
    return address.is_global and not any(address in net for net in NOT_GLOBAL_V4)
