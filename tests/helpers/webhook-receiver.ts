import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One POST the receiver got: its headers (lower-case) and exact body, and what it answered. */
export interface ReceivedWebhook {
  headers: Record<string, string>;
  body: string;
  answered: number;
}

/**
 * A bookkeeping system's webhook endpoint, as a test plays it: an HTTP server on the loopback
 * interface that answers each POST with the status `answer` gives (by the number of requests before
 * it), and keeps every request.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private server: http.Server | null = null;

  private constructor(private answer: (index: number) => number) {}

  static async start(answer: (index: number) => number = () => 200, port = 0): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(answer);
    await receiver.listen(port);
    return receiver;
  }

  private listen(port: number): Promise<void> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const answered = this.answer(this.received.length);
        const headers = Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : String(value)]));
        this.received.push({ headers, body: Buffer.concat(chunks).toString('utf8'), answered });
        res.writeHead(answered, { 'content-type': 'text/plain' }).end(answered < 300 ? 'ok' : 'not now');
      });
    });
    this.server = server;
    return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  }

  get port(): number {
    return (this.server?.address() as AddressInfo).port;
  }

  url(path = '/hooks/reckon'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Checks a request's signature as a receiver would, with the Standard Webhooks library; returns the payload. */
  static verify(secret: string, request: ReceivedWebhook): { id: string; type: string; timestamp: string; tenantId: string; data: Record<string, unknown> } {
    return new Webhook(secret).verify(request.body, request.headers) as never;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Polls `read` until `done` holds (or fails after `timeoutMs` with the last value). */
export async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, description: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${description}; last: ${JSON.stringify(value)?.slice(0, 2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
