import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { formatEncryptionKeys, generateEncryptionKey } from '../../src/common/encryption';
import { generateSigningKey } from '../../src/services/key-material';
import { buildOncePerDigest, digestOfSources, ROOT } from './digest-build';

/**
 * The API as production runs it: `node dist/src/main.js` in its own process, for the tests that kill
 * it, signal it or restart it. The current source is compiled once per digest (under dist/, which
 * git ignores) and the suites share it (digest-build.ts).
 */

const BUILD_ROOT = path.join(ROOT, 'dist', 'test-builds');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ServerBuild {
  /** The compiled entry point. */
  mainPath: string;
}

/** The current source compiled with tsconfig.build.json: built by the first suite that asks (a few seconds), shared after. */
export function buildServer(): ServerBuild {
  // Everything tsconfig.build.json compiles, and the compiler settings.
  const digest = digestOfSources({ directories: ['src', 'migrations'], include: (name) => name.endsWith('.ts'), files: ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'] });
  const outDir = buildOncePerDigest(BUILD_ROOT, digest, (staging) => {
    const build = spawnSync(
      process.execPath,
      [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', staging, '--tsBuildInfoFile', path.join(staging, '.tsbuildinfo')],
      { cwd: ROOT, encoding: 'utf8' },
    );
    if (build.status !== 0) throw new Error(`tsc -p tsconfig.build.json failed:\n${build.stdout}${build.stderr}`);
  });
  return { mainPath: path.join(outDir, 'src', 'main.js') };
}

/** Production refuses to generate keys; two runs of a server on one database must share them. */
export async function generateServerKeys(): Promise<Record<string, string>> {
  return {
    JWT_SIGNING_KEYS: JSON.stringify([await generateSigningKey()]),
    ENCRYPTION_KEYS: formatEncryptionKeys([generateEncryptionKey('test')]),
    BLIND_INDEX_KEY: generateEncryptionKey('blind').key.toString('base64'),
  };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ChildServer {
  process: ChildProcess;
  port: number;
  /** http://127.0.0.1:port/graphql */
  url: string;
  baseUrl: string;
  /** Every line the server wrote (pino JSON on stdout, anything on stderr). */
  lines: string[];
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
}

export interface ChildServerOptions {
  build: ServerBuild;
  databaseUrl: string;
  keys: Record<string, string>;
  env?: Record<string, string>;
  /** Log lines are echoed to the test's output when set (debugging). */
  echo?: boolean;
  /** How long /healthz may take to answer (default 30 s); a cluster's workers start side by side, slower on a busy machine. */
  startupTimeoutMs?: number;
}

/** Starts the server and waits until /healthz answers. */
export async function startChildServer(options: ChildServerOptions): Promise<ChildServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [options.build.mainPath], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      DATABASE_URL: options.databaseUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      SEED_DEMO_TENANT: 'false',
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      RATE_LIMIT_PER_SECOND: '0',
      ...options.keys,
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    readline.createInterface({ input: stream as NodeJS.ReadableStream }).on('line', (line) => {
      lines.push(line);
      if (options.echo) process.stdout.write(`[server ${port}] ${line}\n`);
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  const server: ChildServer = {
    process: child,
    port,
    url: `${baseUrl}/graphql`,
    baseUrl,
    lines,
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
  const startupTimeoutMs = options.startupTimeoutMs ?? 30_000;
  const deadline = Date.now() + startupTimeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode} during start-up:\n${lines.join('\n')}`);
    try {
      const response = await fetch(`${baseUrl}/healthz`);
      if (response.ok) return server;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  await server.kill();
  throw new Error(`the server did not become healthy within ${startupTimeoutMs / 1000} s:\n${lines.join('\n')}`);
}

/** The pino lines whose msg starts with `prefix`, parsed. */
export function logLines(server: ChildServer, prefix: string): Record<string, unknown>[] {
  const found: Record<string, unknown>[] = [];
  for (const line of server.lines) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (typeof parsed.msg === 'string' && parsed.msg.startsWith(prefix)) found.push(parsed);
    } catch {
      // Not a log line.
    }
  }
  return found;
}
