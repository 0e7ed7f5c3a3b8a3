import net from 'node:net';

/**
 * A TCP proxy on a loopback port that a test controls: `cut()` destroys every connection through it
 * and refuses new ones (the listening socket closes, so connects fail with ECONNREFUSED), `restore()`
 * listens again on the same port. Between an API server and its database it plays a network outage.
 */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  private portNumber = 0;
  /** Connections accepted since the proxy started, for tests that want to see reconnects. */
  accepted = 0;

  private constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetHost, targetPort);
    await proxy.listen(0);
    return proxy;
  }

  get port(): number {
    return this.portNumber;
  }

  get isCut(): boolean {
    return this.server === null;
  }

  private listen(port: number): Promise<void> {
    const server = net.createServer((client) => this.relay(client));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        this.server = server;
        this.portNumber = (server.address() as net.AddressInfo).port;
        resolve();
      });
    });
  }

  private relay(client: net.Socket): void {
    this.accepted += 1;
    const upstream = net.connect(this.targetPort, this.targetHost);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** The outage: every open connection is reset and the port stops accepting. */
  async cut(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
    await closed;
  }

  /** The network is back: the same port accepts again. */
  async restore(): Promise<void> {
    if (this.server) return;
    // A port just released can be taken by someone else in between; tests on loopback accept that risk.
    await this.listen(this.portNumber);
  }

  async close(): Promise<void> {
    await this.cut();
  }
}
