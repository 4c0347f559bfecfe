"""Normalise IP addresses and label them the way Defender's RemoteIPType does.

Defender documents the values Public, Private, Reserved, Loopback, Teredo, FourToSixMapping and Broadcast but not
the ranges behind them. The table below is our reading, checked in first-match order. It is written out range by
range (not Python's `is_private` / `is_global`, whose answers changed between Python patch releases):

| label            | ranges                                                                                   |
|------------------|------------------------------------------------------------------------------------------|
| FourToSixMapping | ::ffff:0:0/96 (IPv4-mapped), ::/96 IPv4-compatible, 64:ff9b::/96 (NAT64), 2002::/16 (6to4) |
| Teredo           | 2001::/32                                                                                |
| Loopback         | 127.0.0.0/8, ::1                                                                         |
| Broadcast        | 255.255.255.255                                                                          |
| Private          | 10/8, 172.16/12, 192.168/16, 100.64/10 (carrier-grade NAT), 169.254/16 and fe80::/10     |
|                  | (link-local), fc00::/7 (unique local), fec0::/10 (old site-local)                        |
| Reserved         | 0/8, 192.0.0/24, 192.0.2/24, 198.18/15, 198.51.100/24, 203.0.113/24, 192.88.99/24,       |
|                  | 224/4 (multicast), 240/4, ::, ff00::/8 (multicast), 2001:db8::/32, 100::/64, 2001::/23,   |
|                  | and any IPv6 address outside 2000::/3                                                     |
| Public           | everything else                                                                          |

Decisions: link-local (169.254/16, fe80::/10) is **Private**, not Public and not Reserved. It never leaves the
link (it is how a VM reaches its cloud metadata service at 169.254.169.254), so for this rule it is internal
traffic, and the rule drops Private rows. Labelling it Reserved would make every cloud server's metadata calls
count as internet traffic. Carrier-grade NAT space (100.64/10) is Private for the same reason. A subnet-directed
broadcast such as 172.18.39.255 cannot be told from a host address without the netmask, so it takes its range's
label (Private).
"""

from __future__ import annotations

import ipaddress

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

_FOUR_TO_SIX = [_V6("64:ff9b::/96"), _V6("2002::/16")]
_TEREDO = _V6("2001::/32")
_PRIVATE_V4 = [
    _V4("10.0.0.0/8"),
    _V4("172.16.0.0/12"),
    _V4("192.168.0.0/16"),
    _V4("100.64.0.0/10"),
    _V4("169.254.0.0/16"),
]
_RESERVED_V4 = [
    _V4("0.0.0.0/8"),
    _V4("192.0.0.0/24"),
    _V4("192.0.2.0/24"),
    _V4("192.88.99.0/24"),
    _V4("198.18.0.0/15"),
    _V4("198.51.100.0/24"),
    _V4("203.0.113.0/24"),
    _V4("224.0.0.0/4"),
    _V4("240.0.0.0/4"),
]
_PRIVATE_V6 = [_V6("fc00::/7"), _V6("fe80::/10"), _V6("fec0::/10")]
_RESERVED_V6 = [_V6("ff00::/8"), _V6("2001:db8::/32"), _V6("100::/64"), _V6("2001::/23")]
_GLOBAL_UNICAST = _V6("2000::/3")
_IPV4_COMPATIBLE = _V6("::/96")


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address from log text: surrounding brackets and an IPv6 zone (`fe80::1%12`) are dropped."""
    raw = text.strip()
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1]
    raw = raw.split("%", 1)[0]
    return ipaddress.ip_address(raw)


def normalize_ip(text: str) -> str:
    """The canonical text of an address: IPv6 compressed and lower-case (`fe80:0:0:0:1` -> `fe80::1`), an
    IPv4-mapped address as `::ffff:a.b.c.d` (the form Defender shows and the rule's `startswith "::ffff:"`
    expects). Raises ValueError for text that is not an address."""
    address = parse_ip(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"
    return address.compressed


def classify_ip(text: str) -> str:
    """Defender's RemoteIPType for an address (see the module docstring). Raises ValueError for non-addresses."""
    address = parse_ip(text)
    if isinstance(address, ipaddress.IPv6Address):
        return _classify_v6(address)
    return _classify_v4(address)


def _classify_v4(address: ipaddress.IPv4Address) -> str:
    if address in _V4("127.0.0.0/8"):
        return "Loopback"
    if address == ipaddress.IPv4Address("255.255.255.255"):
        return "Broadcast"
    if any(address in net for net in _PRIVATE_V4):
        return "Private"
    if any(address in net for net in _RESERVED_V4):
        return "Reserved"
    return "Public"


def _classify_v6(address: ipaddress.IPv6Address) -> str:
    if address.ipv4_mapped is not None or any(address in net for net in _FOUR_TO_SIX):
        return "FourToSixMapping"
    if address in _TEREDO:
        return "Teredo"
    if address == ipaddress.IPv6Address("::1"):
        return "Loopback"
    if address == ipaddress.IPv6Address("::"):
        return "Reserved"
    if address in _IPV4_COMPATIBLE:
        return "FourToSixMapping"
    if any(address in net for net in _PRIVATE_V6):
        return "Private"
    if any(address in net for net in _RESERVED_V6) or address not in _GLOBAL_UNICAST:
        return "Reserved"
    return "Public"
