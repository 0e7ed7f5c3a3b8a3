import dns from 'node:dns';
import net from 'node:net';

/**
 * Where webhook deliveries may go: not into the server's own network (SSRF). An admin of any tenant
 * chooses the URL, and the server, inside the operator's network, is the one that connects; without
 * this rule an endpoint at http://169.254.169.254/ or http://10.0.0.5:6379/ would have Reckon read
 * cloud credentials or poke internal services. Checked when an endpoint is created (the URL's host
 * and what it resolves to now) and again at every delivery, after resolution, on the very address the
 * connection then uses (see `checkedLookup`): a name that resolved to a public address at creation
 * and to a private one later (DNS rebinding) is refused at delivery.
 */

const refused = new net.BlockList();
// IPv4: "this network" and unspecified, private (RFC 1918), shared address space (CGNAT, RFC 6598),
// loopback, link-local (cloud metadata at 169.254.169.254), IETF protocol assignments, benchmarking,
// multicast, reserved and broadcast.
for (const [network, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  refused.addSubnet(network, prefix, 'ipv4');
}
// IPv6: unspecified, loopback, unique-local (fc00::/7), link-local, site-local (deprecated), multicast.
refused.addAddress('::', 'ipv6');
refused.addAddress('::1', 'ipv6');
for (const [network, prefix] of [
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  refused.addSubnet(network, prefix, 'ipv6');
}

/** The IPv4 address an IPv6 address carries (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96), if any. */
function embeddedIpv4(address: string): string | null {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(lower);
  if (!hex) return null;
  const high = parseInt(hex[1], 16);
  const low = parseInt(hex[2], 16);
  return `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
}

/** True for an address deliveries may not reach (loopback, private, link-local, multicast, unspecified…). */
export function isRefusedAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return refused.check(address, 'ipv4');
  if (family === 6) {
    const v4 = embeddedIpv4(address);
    return v4 !== null ? refused.check(v4, 'ipv4') : refused.check(address, 'ipv6');
  }
  return true;
}

/** A host as the URL parser gives it: IPv6 literals come in brackets. */
function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

export class RefusedDestinationError extends Error {
  // The resolved address is not named: the reason reaches API clients at creation, and telling them
  // what an internal name resolves to would make this check a DNS oracle for the network.
  static readonly REASON = 'is or resolves to an address webhooks may not reach (loopback, private, link-local, multicast or unspecified)';

  constructor(readonly host: string) {
    super(`${host} ${RefusedDestinationError.REASON}`);
    this.name = 'RefusedDestinationError';
  }
}

export interface DestinationPolicy {
  /** WEBHOOK_ALLOW_PRIVATE_NETWORKS: development and tests only. */
  allowPrivateNetworks: boolean;
}

type LookupAddress = { address: string; family: number };

function lookupAll(host: string, timeoutMs: number): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`DNS lookup of ${host} timed out`)), timeoutMs);
    dns.lookup(host, { all: true, verbatim: true }, (error, addresses) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(addresses);
    });
  });
}

/**
 * The addresses a delivery to `hostname` may connect to, every one checked; throws
 * RefusedDestinationError when the host is, or any of its addresses is, refused. Refusing when one
 * address of several is private (rather than picking a public one) leaves a rebinding name nothing.
 */
export async function resolveDestination(hostname: string, policy: DestinationPolicy, timeoutMs = 5000): Promise<LookupAddress[]> {
  const host = bareHost(hostname);
  const literal = net.isIP(host);
  const addresses = literal ? [{ address: host, family: literal }] : await lookupAll(host, timeoutMs);
  if (addresses.length === 0) throw new Error(`${host} has no address`);
  if (!policy.allowPrivateNetworks && addresses.some((entry) => isRefusedAddress(entry.address))) throw new RefusedDestinationError(host);
  return addresses;
}

/**
 * At endpoint creation: refuses a URL whose host is, or now resolves to, a refused address. A name
 * that does not resolve (yet) is accepted: its deliveries resolve and check it again, and fail until
 * it resolves to an address they may reach.
 */
export async function checkDestinationAtCreation(url: string, policy: DestinationPolicy): Promise<void> {
  if (policy.allowPrivateNetworks) return;
  const { hostname } = new URL(url);
  try {
    await resolveDestination(hostname, policy, 3000);
  } catch (error) {
    if (error instanceof RefusedDestinationError) throw error;
  }
}

/**
 * A `lookup` for http(s).request that resolves, checks every address, and hands the socket the
 * checked address: the connection goes to exactly what was checked, never to a second resolution.
 */
export function checkedLookup(policy: DestinationPolicy): net.LookupFunction {
  return (hostname, options, callback) => {
    resolveDestination(hostname, policy).then(
      (addresses) => {
        const wanted = typeof options === 'object' && options.family ? addresses.filter((entry) => entry.family === options.family) : addresses;
        const chosen = wanted.length ? wanted : addresses;
        if (typeof options === 'object' && options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, chosen);
        else callback(null, chosen[0].address, chosen[0].family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
}
