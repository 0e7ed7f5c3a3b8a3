import cluster, { type Worker } from 'node:cluster';
import { bootstrap, createLogger } from './bootstrap';
import type { Config } from './config';
import { createDemoTenant, type DemoTenant } from './services/demo-tenant';

/**
 * WEB_CONCURRENCY > 1: this process is a node:cluster primary. It serves nothing itself: it prepares
 * the database once (migrations, generated development keys, the demo tenant), so that the workers do
 * not race to, then forks the workers, which share the port (node:cluster hands each connection to one
 * of them) and each run the whole API as a single process does: own pool, own ledger writer, own
 * background jobs, own ordered shutdown. What they share is the database and Redis (README, Running
 * several processes or machines).
 *
 * A worker that dies unexpectedly is replaced; when replacements keep dying young, each waits longer
 * (up to RESTART_MAX_DELAY_MS) rather than looping. SIGTERM or SIGINT asks every worker to shut down
 * gracefully; the primary exits 0 when all of them exited 0 within SHUTDOWN_TIMEOUT_MS (and the grace
 * below), 1 otherwise. A second signal ends every worker at once.
 */

const SHUTDOWN_REQUEST = 'reckon:shutdown';
const LISTENING = 'reckon:listening';
const SHUTDOWN_COMPLETE = 'reckon:shutdown-complete';
/** A worker that lived this long before dying is replaced at once; one that died younger counts towards the backoff. */
const STABLE_AFTER_MS = 30_000;
const RESTART_BASE_DELAY_MS = 500;
const RESTART_MAX_DELAY_MS = 30_000;
/** Beyond SHUTDOWN_TIMEOUT_MS, for a worker to write its last log lines and exit (its own backstop is 2 s). */
const SHUTDOWN_GRACE_MS = 3000;

/** The message a primary sends a worker to have it shut down gracefully. */
export function isShutdownRequest(message: unknown): boolean {
  return (message as { type?: unknown } | null)?.type === SHUTDOWN_REQUEST;
}

/** What a worker tells its primary once it listens: the URL, for the demo tenant's instructions. */
export function listeningMessage(url: string): { type: string; url: string } {
  return { type: LISTENING, url };
}

/**
 * What a worker tells its primary when its shutdown is done, with its outcome. The primary counts that
 * outcome rather than how the process then ended: a process that has finished its work can still be
 * ended by a signal while it exits (Ctrl-C reaches the whole process group), which changes nothing.
 */
export function shutdownCompleteMessage(inTime: boolean): { type: string; inTime: boolean } {
  return { type: SHUTDOWN_COMPLETE, inTime };
}

function shutdownOutcomeOf(message: unknown): boolean | undefined {
  const candidate = message as { type?: unknown; inTime?: unknown } | null;
  return candidate?.type === SHUTDOWN_COMPLETE && typeof candidate.inTime === 'boolean' ? candidate.inTime : undefined;
}

function listeningUrlOf(message: unknown): string | undefined {
  const candidate = message as { type?: unknown; url?: unknown } | null;
  return candidate?.type === LISTENING && typeof candidate.url === 'string' ? candidate.url : undefined;
}

interface WorkerState {
  startedAt: number;
  listened: boolean;
  /** Set when the worker reported its shutdown done: whether it finished in time. */
  shutdownInTime?: boolean;
}

export async function runClusterPrimary(config: Config, printDemoStart: (url: string, demo: DemoTenant) => void): Promise<void> {
  const log = createLogger(config.logLevel).child({ pid: process.pid, role: 'primary' });
  const workerCount = config.webConcurrency;

  // Once, before any worker exists: migrations, key files under DATA_DIR, the demo tenant.
  const runtime = await bootstrap(config, { log: log.child({}) });
  const demo = config.seedDemoTenant && (await runtime.services.tenancy.countTenants()) === 0 ? await createDemoTenant(runtime.services, 'Demo') : undefined;
  // This runtime only prepared the database; its close is not a server's shutdown, whose steps the
  // workers log. Warnings (a ledger command given up) would still show.
  runtime.log.level = 'warn';
  await runtime.close();
  log.info({ workers: workerCount }, 'cluster: database ready; starting workers');

  const states = new Map<Worker, WorkerState>();
  const restartTimers = new Set<NodeJS.Timeout>();
  let anyListened = false;
  let demoPrinted = !demo;
  let quickExits = 0;
  let shuttingDown = false;
  let resolveAllExited: () => void = () => undefined;
  const allExited = new Promise<void>((resolve) => {
    resolveAllExited = resolve;
  });
  let failedExits = 0;

  const fork = () => {
    const worker = cluster.fork();
    states.set(worker, { startedAt: Date.now(), listened: false });
    log.info({ worker: worker.id, workerPid: worker.process.pid }, 'cluster: worker started');
    worker.on('message', (message: unknown) => {
      const inTime = shutdownOutcomeOf(message);
      if (inTime !== undefined) {
        const state = states.get(worker);
        if (state) state.shutdownInTime = inTime;
        return;
      }
      const url = listeningUrlOf(message);
      if (!url) return;
      const state = states.get(worker);
      if (state) state.listened = true;
      anyListened = true;
      if (!demoPrinted && demo) {
        demoPrinted = true;
        printDemoStart(url, demo);
      }
    });
  };

  cluster.on('exit', (worker, code, signal) => {
    const state = states.get(worker);
    states.delete(worker);
    const livedMs = state ? Date.now() - state.startedAt : 0;
    if (shuttingDown) {
      // A worker that reported its shutdown done is judged by that report (see shutdownCompleteMessage).
      const succeeded = state?.shutdownInTime ?? code === 0;
      if (!succeeded) failedExits += 1;
      log.info({ worker: worker.id, workerPid: worker.process.pid, code, signal }, 'cluster: worker exited');
      if (states.size === 0) resolveAllExited();
      return;
    }
    // Not asked to: a crash, an out-of-memory kill, a kill -9. Before any worker ever listened it is a
    // start-up failure (a bad setting, an unreachable database), which restarting would only repeat.
    if (!anyListened && !state?.listened) {
      log.error({ worker: worker.id, workerPid: worker.process.pid, code, signal }, 'cluster: a worker failed to start; stopping');
      shuttingDown = true;
      failedExits += 1;
      for (const other of states.keys()) other.process.kill('SIGKILL');
      if (states.size === 0) resolveAllExited();
      void allExited.then(() => exitOnceLogsAreWritten(1));
      return;
    }
    quickExits = livedMs < STABLE_AFTER_MS ? quickExits + 1 : 0;
    const restartInMs = quickExits === 0 ? 0 : Math.min(RESTART_MAX_DELAY_MS, RESTART_BASE_DELAY_MS * 2 ** (quickExits - 1));
    log.error({ worker: worker.id, workerPid: worker.process.pid, code, signal, livedMs, restartInMs }, 'cluster: worker exited unexpectedly; replacing it');
    const timer = setTimeout(() => {
      restartTimers.delete(timer);
      if (!shuttingDown) fork();
    }, restartInMs);
    restartTimers.add(timer);
  });

  for (let i = 0; i < workerCount; i += 1) fork();

  const shutdown = async (signal: NodeJS.Signals) => {
    log.info({ signal, timeoutMs: config.shutdownTimeoutMs, workers: states.size }, 'cluster: shutdown started');
    for (const timer of restartTimers) clearTimeout(timer);
    restartTimers.clear();
    if (states.size === 0) resolveAllExited();
    // Each worker runs its own ordered shutdown (its lines: "shutdown: …", with its pid).
    for (const worker of states.keys()) {
      if (worker.isConnected()) worker.send({ type: SHUTDOWN_REQUEST });
      else worker.process.kill('SIGTERM');
    }
    const forced = setTimeout(() => {
      log.error({ timeoutMs: config.shutdownTimeoutMs, workers: [...states.keys()].map((worker) => worker.process.pid) }, 'cluster: shutdown timed out; killing the workers left');
      for (const worker of states.keys()) worker.process.kill('SIGKILL');
      process.exit(1);
    }, config.shutdownTimeoutMs + SHUTDOWN_GRACE_MS);
    await allExited;
    clearTimeout(forced);
    log.info({ failedWorkers: failedExits }, 'cluster: shutdown complete');
    exitOnceLogsAreWritten(failedExits === 0 ? 0 : 1);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      log.warn({ signal }, 'cluster: second signal; ending every worker now');
      for (const worker of states.keys()) worker.process.kill('SIGKILL');
      process.exit(1);
    }
    shuttingDown = true;
    void shutdown(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/**
 * Ends the process after the log lines already written reach stdout, in their order. pino writes
 * stdout asynchronously; when the pipe is full (a slow reader) a write waits to be retried, and
 * process.exit()'s synchronous flush would write the later lines first (CI saw "shutdown: complete"
 * before "audit events written"). Everything is closed by now, so the event loop ends on its own once
 * the writes are done; the unref'd timer is a backstop for a handle something forgot to close. A
 * cluster worker's channel to its primary is such a handle: unref'd here, so that it does not hold
 * the worker.
 */
export function exitOnceLogsAreWritten(code: number): void {
  process.exitCode = code;
  process.channel?.unref();
  setTimeout(() => process.exit(code), 2000).unref();
}
