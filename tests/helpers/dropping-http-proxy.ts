import http from 'node:http';
import type net from 'node:net';

/**
 * What the proxy does with one HTTP request:
 * - `forward`: sends it to the server and the answer back;
 * - `drop-before-forwarding`: drops the client's connection; the server never sees the request;
 * - `drop-after-forwarding`: sends it to the server, waits for the whole answer (the server has
 *   committed), then drops the client's connection instead of answering: the response is lost.
 */
export type ProxyAction = 'forward' | 'drop-before-forwarding' | 'drop-after-forwarding';

export interface ProxiedRequest {
  /** 0 for the first request the proxy received. */
  index: number;
  method: string;
  /** The request's path and query string, as the client sent them. */
  path: string;
  body: string;
  /** The Idempotency-Key header, or else `variables.idempotencyKey` of a GraphQL body, when it has one. */
  idempotencyKey?: string;
  action: ProxyAction;
}

export type ProxyDecision = (request: Omit<ProxiedRequest, 'action'>) => ProxyAction;

/**
 * An HTTP proxy in front of the API on a loopback port, deciding per request whether the request
 * reaches the server and whether its answer reaches the client: the two ways a network loses a
 * call. Every request is recorded, so tests can count attempts.
 */
export class DroppingHttpProxy {
  readonly requests: ProxiedRequest[] = [];
  /** Replace at any time; forwards everything by default. */
  decide: ProxyDecision = () => 'forward';
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: http.Server,
    private readonly target: URL,
  ) {}

  static async start(targetUrl: string): Promise<DroppingHttpProxy> {
    const server = http.createServer();
    const proxy = new DroppingHttpProxy(server, new URL(targetUrl));
    server.on('request', (req, res) => void proxy.handle(req, res));
    server.on('connection', (socket) => {
      proxy.sockets.add(socket);
      socket.once('close', () => proxy.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  /** The proxied GraphQL endpoint: the target's path on the proxy's port. */
  get url(): string {
    return `${this.origin}${this.target.pathname}`;
  }

  /** The proxy's origin: any path asked of it (/v1/payments, say) is asked of the target's origin. */
  get origin(): string {
    const { port } = this.server.address() as net.AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Requests that carried this idempotency key, in arrival order. */
  requestsWithKey(key: string): ProxiedRequest[] {
    return this.requests.filter((request) => request.idempotencyKey === key);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headerKey = req.headers['idempotency-key'];
    const seen = {
      index: this.requests.length,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      body,
      idempotencyKey: typeof headerKey === 'string' ? headerKey : idempotencyKeyOf(body),
    };
    const action = this.decide(seen);
    this.requests.push({ ...seen, action });
    if (action === 'drop-before-forwarding') {
      req.socket.destroy();
      return;
    }
    let upstream: Response;
    let answer: string;
    try {
      upstream = await fetch(new URL(seen.path, this.target), {
        method: req.method,
        headers: forwardedHeaders(req.headers),
        body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
      });
      answer = await upstream.text();
    } catch {
      req.socket.destroy();
      return;
    }
    if (action === 'drop-after-forwarding') {
      req.socket.destroy();
      return;
    }
    // The answer's own headers (Idempotent-Replayed, Location, X-Request-Id…), but for those of its
    // transfer: the body is sent again whole and decoded.
    const headers: Record<string, string> = {};
    upstream.headers.forEach((value, name) => {
      if (!['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding'].includes(name)) headers[name] = value;
    });
    res.writeHead(upstream.status, headers);
    res.end(answer);
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function idempotencyKeyOf(body: string): string | undefined {
  try {
    const key = (JSON.parse(body) as { variables?: { idempotencyKey?: unknown } }).variables?.idempotencyKey;
    return typeof key === 'string' ? key : undefined;
  } catch {
    return undefined;
  }
}

function forwardedHeaders(incoming: http.IncomingHttpHeaders): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || ['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive'].includes(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

/**
 * What the network does to each logical call, attempt by attempt, before it lets one through. Calls
 * take these in turn by the order their keys first reach the proxy.
 */
export const DROP_SCHEDULES: ProxyAction[][] = [
  [],
  ['drop-before-forwarding'],
  ['drop-after-forwarding'],
  ['drop-before-forwarding', 'drop-after-forwarding'],
  ['drop-after-forwarding', 'drop-before-forwarding'],
  ['drop-after-forwarding', 'drop-after-forwarding'],
];

/** Drops keyed requests by DROP_SCHEDULES; records which schedule each key got. */
export function dropByKeySchedule(proxy: DroppingHttpProxy): Map<string, ProxyAction[]> {
  const schedules = new Map<string, ProxyAction[]>();
  proxy.decide = ({ idempotencyKey }) => {
    if (!idempotencyKey) return 'forward';
    let schedule = schedules.get(idempotencyKey);
    if (!schedule) {
      schedule = DROP_SCHEDULES[schedules.size % DROP_SCHEDULES.length];
      schedules.set(idempotencyKey, schedule);
    }
    const attempt = proxy.requestsWithKey(idempotencyKey).length; // this request not yet included
    return schedule[attempt] ?? 'forward';
  };
  return schedules;
}
