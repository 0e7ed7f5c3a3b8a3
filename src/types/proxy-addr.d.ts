declare module 'proxy-addr' {
  import type { IncomingMessage } from 'node:http';

  /** Decides whether the hop at `address` (index `i` from the socket) is a trusted proxy. */
  type TrustFunction = (address: string, i: number) => boolean;

  /** The client's address: the socket's peer, or the closest untrusted address in X-Forwarded-For. */
  function proxyaddr(req: IncomingMessage, trust: TrustFunction): string;
  export = proxyaddr;
}
