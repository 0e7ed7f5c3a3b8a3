import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { formatEncryptionKeys, generateEncryptionKey } from '../../src/common/encryption';
import { generateSigningKey } from '../../src/services/key-material';

/**
 * The API as production runs it: `node dist/src/main.js` in its own process, for the tests that kill
 * it, signal it or restart it. The current source is compiled once into a directory named by its
 * digest (under dist/, which git ignores) and the suites share it: a build appears there whole, by a
 * rename, so a suite never starts a server from files another suite's build is still writing, and a
 * changed source gets a directory of its own.
 */

const ROOT = path.resolve(__dirname, '../..');
const BUILD_ROOT = path.join(ROOT, 'dist', 'test-builds');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface ServerBuild {
  /** The compiled entry point. */
  mainPath: string;
}

/** Written last into a finished build: a directory without it is a build that failed half-way. */
const BUILD_COMPLETE = '.build-complete';
/** Builds of an older source are removed once they are this old (a run still using one is long over). */
const STALE_BUILD_MS = 60 * 60 * 1000;

/** The digest of everything tsconfig.build.json compiles, and of the compiler settings. */
function sourceDigest(): string {
  const hash = crypto.createHash('sha256');
  const visit = (relative: string) => {
    const absolute = path.join(ROOT, relative);
    for (const entry of fs.readdirSync(absolute, { withFileTypes: true }).sort((x, y) => x.name.localeCompare(y.name))) {
      const child = path.join(relative, entry.name);
      if (entry.isDirectory()) visit(child);
      else if (entry.name.endsWith('.ts')) hash.update(child).update('\0').update(fs.readFileSync(path.join(ROOT, child))).update('\0');
    }
  };
  visit('src');
  visit('migrations');
  for (const file of ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json']) hash.update(fs.readFileSync(path.join(ROOT, file)));
  return hash.digest('hex').slice(0, 16);
}

function removeStaleBuilds(current: string): void {
  if (!fs.existsSync(BUILD_ROOT)) return;
  for (const entry of fs.readdirSync(BUILD_ROOT)) {
    const directory = path.join(BUILD_ROOT, entry);
    if (entry !== current && Date.now() - fs.statSync(directory).mtimeMs > STALE_BUILD_MS) fs.rmSync(directory, { recursive: true, force: true });
  }
}

/** The current source compiled with tsconfig.build.json: built by the first suite that asks (a few seconds), shared after. */
export function buildServer(): ServerBuild {
  const digest = sourceDigest();
  const outDir = path.join(BUILD_ROOT, digest);
  const mainPath = path.join(outDir, 'src', 'main.js');
  if (fs.existsSync(path.join(outDir, BUILD_COMPLETE))) return { mainPath };
  removeStaleBuilds(digest);
  const staging = path.join(BUILD_ROOT, `${digest}.${process.pid}.${crypto.randomBytes(3).toString('hex')}`);
  const build = spawnSync(
    process.execPath,
    [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', staging, '--tsBuildInfoFile', path.join(staging, '.tsbuildinfo')],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (build.status !== 0) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new Error(`tsc -p tsconfig.build.json failed:\n${build.stdout}${build.stderr}`);
  }
  fs.writeFileSync(path.join(staging, BUILD_COMPLETE), '');
  try {
    fs.renameSync(staging, outDir);
  } catch (error) {
    // Another suite finished the same build first: use its copy.
    fs.rmSync(staging, { recursive: true, force: true });
    if (!fs.existsSync(path.join(outDir, BUILD_COMPLETE))) throw error;
  }
  return { mainPath };
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
