import net from 'node:net';

/**
 * A TCP proxy on a loopback port that a test controls: `cut()` destroys every connection through it
 * and refuses new ones (the listening socket closes, so connects fail with ECONNREFUSED), `restore()`
 * listens again on the same port. Between an API server and its database it plays a network outage.
 */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  /** While frozen: what each side sent, held back, and the connections accepted but not yet relayed. */
  private frozen: { held: { to: net.Socket; data: Buffer }[]; waiting: net.Socket[] } | null = null;
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
    if (this.frozen) {
      // Accepted (a connect succeeds) but not answered: as a frozen database server looks.
      this.frozen.waiting.push(client);
      this.sockets.add(client);
      client.on('error', () => client.destroy());
      return;
    }
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
    const forward = (to: net.Socket) => (data: Buffer) => {
      if (this.frozen) this.frozen.held.push({ to, data });
      else to.write(data);
    };
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
  }

  /**
   * A frozen database (its process stopped): connections stay open and new ones are accepted, but
   * nothing is forwarded either way until `thaw()`, which delivers what was held back, in order.
   */
  freeze(): void {
    this.frozen ??= { held: [], waiting: [] };
  }

  thaw(): void {
    const frozen = this.frozen;
    if (!frozen) return;
    this.frozen = null;
    for (const { to, data } of frozen.held) if (!to.destroyed) to.write(data);
    for (const client of frozen.waiting) {
      this.sockets.delete(client);
      if (!client.destroyed) {
        client.removeAllListeners('error');
        this.accepted -= 1;
        this.relay(client);
      }
    }
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
