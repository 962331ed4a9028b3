import { BlockList, isIP } from 'node:net';

/**
 * IANA's IPv4 special-purpose registry (RFC 6890 and successors), plus multicast and the
 * reserved 240/4: addresses that are private, local, shared, reserved or for documentation.
 * A webhook must not go to any of them unless TEGAMI_WEBHOOKS_ALLOW_PRIVATE=true.
 */
const SPECIAL_IPV4: readonly (readonly [string, number])[] = [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 itself reaches the local host on Linux
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // shared address space (CGNAT)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, including cloud metadata services
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation (TEST-NET-1)
  ['192.88.99.0', 24], // deprecated 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation (TEST-NET-2)
  ['203.0.113.0', 24], // documentation (TEST-NET-3)
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, including the limited broadcast 255.255.255.255
];

/** IANA's IPv6 special-purpose registry, plus multicast and the deprecated site-local block. */
const SPECIAL_IPV6: readonly (readonly [string, number])[] = [
  // IPv4-compatible addresses (deprecated ::a.b.c.d), which include :: and ::1
  ['::', 96],
  ['64:ff9b:1::', 48], // local-use IPv4/IPv6 translation: not globally reachable
  ['100::', 63], // discard-only (100::/64) and the dummy prefix (100:0:0:1::/64)
  ['2001::', 23], // IETF protocol assignments, including Teredo (2001::/32)
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation
  ['5f00::', 16], // segment routing (SRv6) SIDs
  ['fc00::', 7], // unique-local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

/**
 * IPv6 forms that carry an IPv4 address and reach it: IPv4-mapped (::ffff:a.b.c.d, how a dual-
 * stack socket connects to IPv4), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::/48).
 * Each is refused when the IPv4 address inside is.
 */
function embeddedIpv4Subnets(ipv4: string, prefix: number): [string, number][] {
  const [a = 0, b = 0, c = 0, d = 0] = ipv4.split('.').map(Number);
  const hex = (high: number, low: number) => ((high << 8) | low).toString(16);
  return [
    [`::ffff:${ipv4}`, 96 + prefix],
    [`64:ff9b::${ipv4}`, 96 + prefix],
    [`2002:${hex(a, b)}:${hex(c, d)}::`, 16 + prefix],
  ];
}

const REFUSED = new BlockList();
for (const [network, prefix] of SPECIAL_IPV4) {
  REFUSED.addSubnet(network, prefix, 'ipv4');
  for (const [mapped, length] of embeddedIpv4Subnets(network, prefix))
    REFUSED.addSubnet(mapped, length, 'ipv6');
}
for (const [network, prefix] of SPECIAL_IPV6) REFUSED.addSubnet(network, prefix, 'ipv6');

/**
 * Whether a webhook must not go to this address (see SPECIAL_IPV4 and SPECIAL_IPV6): private,
 * loopback, link-local, shared, documentation, multicast and other special-purpose addresses,
 * and IPv6 forms that embed such an IPv4 address. Anything that is not an IP address is refused.
 */
export function isPrivateAddress(address: string): boolean {
  // A zone ("fe80::1%eth0") is not part of the address; the block list would not match it.
  const bare = address.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return REFUSED.check(bare, 'ipv4');
  if (family === 6) return REFUSED.check(bare, 'ipv6');
  return true;
}
