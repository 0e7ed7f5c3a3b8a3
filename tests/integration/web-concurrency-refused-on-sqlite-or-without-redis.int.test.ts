import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildServer, generateServerKeys, type ServerBuild, startChildServer } from '../helpers/child-server';

/**
 * WEB_CONCURRENCY above 1 where several processes would be wrong rather than slow: the server refuses
 * to start, exits 1 and says why and what to do, before it opens the database (README, Running
 * several processes or machines). On SQLite the processes would meet at the file's lock and fail with
 * SQLITE_BUSY; without Redis, subscriptions, rate limits and lockouts would stay inside each worker.
 */
describe('WEB_CONCURRENCY refused where several processes cannot share the work', () => {
  let build: ServerBuild;
  let keys: Record<string, string>;
  let directory: string;

  beforeAll(async () => {
    build = buildServer();
    keys = await generateServerKeys();
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-refused-'));
  }, 120_000);

  afterAll(() => {
    if (directory) fs.rmSync(directory, { recursive: true, force: true });
  });

  async function startFailure(databaseUrl: string, env: Record<string, string>): Promise<string> {
    try {
      const server = await startChildServer({ build, databaseUrl, keys, env: { DATA_DIR: directory, ...env } });
      await server.kill();
    } catch (error) {
      return (error as Error).message;
    }
    throw new Error('the server started');
  }

  it('on SQLite, even with Redis', async () => {
    const file = path.join(directory, 'reckon.sqlite');
    const message = await startFailure(`sqlite:${file}`, { WEB_CONCURRENCY: '2', REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(message).toContain('the server exited with code 1 during start-up');
    expect(message).toContain('WEB_CONCURRENCY=2 needs a MySQL or MariaDB DATABASE_URL: SQLite takes one API process');
    // Refused before anything was opened: no database file was created.
    expect(fs.existsSync(file)).toBe(false);
  });

  it('on MySQL without REDIS_URL', async () => {
    // Refused from the settings alone: nothing listens at this address, and nothing needs to.
    const message = await startFailure('mysql://reckon@127.0.0.1:1/reckon', { WEB_CONCURRENCY: '3' });
    expect(message).toContain('the server exited with code 1 during start-up');
    expect(message).toContain('WEB_CONCURRENCY=3 needs REDIS_URL: subscriptions, rate limits and lockouts are shared between processes through Redis');
  });

  it('and WEB_CONCURRENCY=1 on SQLite without Redis is the single process it always was', async () => {
    const server = await startChildServer({ build, databaseUrl: `sqlite:${path.join(directory, 'single.sqlite')}`, keys, env: { DATA_DIR: directory, WEB_CONCURRENCY: '1' } });
    try {
      expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
      expect(server.lines.some((line) => line.includes('"cluster: '))).toBe(false);
    } finally {
      server.process.kill('SIGTERM');
      expect(await server.exited).toEqual({ code: 0, signal: null });
    }
  });

  it('and a single process whose port is taken exits 1 saying so, rather than waiting', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const message = await startFailure(`sqlite:${path.join(directory, 'taken.sqlite')}`, { PORT: String((taken.address() as net.AddressInfo).port) });
      expect(message).toContain('the server exited with code 1 during start-up');
      expect(message).toContain('EADDRINUSE');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
