import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

export type TrustProxy = (address: string, hop: number) => boolean;

/**
 * The caller's address, as failed authentications are counted and locked by: the TCP peer, or with
 * TRUST_PROXY the nearest address in X-Forwarded-For that is not a trusted proxy (express's own rule
 * for req.ip, applied to WebSocket upgrades too). IPv4-mapped IPv6 addresses are shown as IPv4, so one
 * client counts as one address on a dual-stack socket.
 */
export function sourceAddressOf(req: IncomingMessage, trust: TrustProxy): string {
  const address = req.socket.remoteAddress === undefined ? undefined : proxyaddr(req, trust);
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}
