"""Which addresses a webhook may not reach: private, loopback, link-local, unique-local, multicast, unspecified,
reserved and shared (CGNAT) ranges, and cloud metadata endpoints (IPv4-mapped, NAT64 and 6to4 IPv6 forms are
judged by the IPv4 address they carry)."""

from __future__ import annotations

import ipaddress
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA: Final = "cloud metadata"

# Instance metadata and platform endpoints: refused even with WEBHOOK_BLOCK_PRIVATE=false (some are public addresses).
METADATA_ADDRESSES: Final[frozenset[IPAddress]] = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, ...
        "169.254.170.2",  # AWS ECS task metadata and credentials
        "169.254.170.23",  # AWS EKS Pod Identity
        "169.254.0.23",  # Tencent Cloud
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud Infrastructure (classic)
        "168.63.129.16",  # Azure WireServer
        "fd00:ec2::254",  # AWS instance metadata over IPv6
        "fd00:ec2::23",  # AWS EKS Pod Identity over IPv6
    )
)
# What each non-public range is called in a refusal. Anything else Python's `ipaddress` does not call global is
# refused as "reserved" too, so this table only has to name the ranges, not to be complete. An address is only ever
# in a network of its own version; the IPv6 ranges are tried in order (`::/8` last).
BLOCKED_NETWORKS: Final = tuple(
    (ipaddress.ip_network(network), kind)
    for network, kind in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (CGNAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "reserved"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved"),
        ("198.51.100.0/24", "reserved"),
        ("203.0.113.0/24", "reserved"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b:1::/48", "private"),
        ("100::/64", "reserved"),
        ("2001::/23", "reserved"),
        ("2001:db8::/32", "reserved"),
        ("3fff::/20", "reserved"),
        ("5f00::/16", "reserved"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "private"),
        ("ff00::/8", "multicast"),
        ("::/8", "reserved"),
    )
)
NAT64_PREFIX: Final = ipaddress.IPv6Network("64:ff9b::/96")


def address_class(address: IPAddress) -> str | None:
    """What kind of non-public address `address` is ("loopback", "cloud metadata", ...); None for a public one."""
    if address in METADATA_ADDRESSES:
        return METADATA
    if isinstance(address, ipaddress.IPv6Address):
        carried = _carried_ipv4(address)
        if carried is not None:
            return address_class(carried)
    for network, kind in BLOCKED_NETWORKS:
        if address in network:
            return kind
    return None if address.is_global else "reserved"


def _carried_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) or 6to4 address reaches."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour
