import fs from 'node:fs';
import Redis from 'ioredis';
import mysql from 'mysql2/promise';

/** Why Redis cannot be reached, or null when it answers PING. */
async function redisUnreachableReason(url: string): Promise<string | null> {
  const redis = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  // The connection's own error (ECONNREFUSED …) says more than the rejected connect() ("Connection is closed").
  let connectionError: Error | undefined;
  redis.on('error', (error: Error) => (connectionError = error));
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (error) {
    return (connectionError ?? (error instanceof Error ? error : new Error(String(error)))).message;
  } finally {
    redis.disconnect();
  }
}

/**
 * Decides whether the suites that need Redis (pub/sub across API processes) run: like MySQL, skipped
 * with a notice outside CI when Redis does not answer, mandatory in CI.
 */
async function detectRedis(): Promise<void> {
  const url = process.env.TEST_REDIS_URL || 'redis://127.0.0.1:6379';
  process.env.TEST_REDIS_URL = url;
  const reason = await redisUnreachableReason(url);
  if (reason === null) {
    process.env.RECKON_TEST_REDIS = '1';
    return;
  }
  if (process.env.CI === 'true') throw new Error(`Redis is required in CI but ${url} is not reachable: ${reason}`);
  process.env.RECKON_TEST_REDIS = '0';
  process.stderr.write(`\n*** Redis at ${url} is not reachable (${reason}).\n*** SKIPPING every Redis suite. Set TEST_REDIS_URL or start Redis.\n\n`);
}

/**
 * Decides once per run whether the MySQL suites run. Outside CI an unreachable server skips them with
 * a clear notice; in CI (CI=true) they are mandatory and an unreachable server fails the run.
 */
/** The dashboard's browser suites need Chromium: skipped with a notice outside CI, mandatory in CI (browser.ts). */
function detectChromium(): void {
  const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (fs.existsSync(chromiumPath)) return;
  if (process.env.CI === 'true') throw new Error(`Chromium is required in CI but ${chromiumPath} does not exist: apt-get install chromium, or set CHROMIUM_PATH`);
  process.stderr.write(`\n*** Chromium is not installed at ${chromiumPath}.\n*** SKIPPING the dashboard's browser suites. apt-get install chromium, or set CHROMIUM_PATH.\n\n`);
}

export default async function globalSetup(): Promise<void> {
  detectChromium();
  await detectRedis();
  const url = process.env.TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306/test';
  process.env.TEST_MYSQL_URL = url;
  try {
    const connection = await mysql.createConnection({ uri: url, connectTimeout: 3000 });
    await connection.query('SELECT 1');
    await connection.end();
    process.env.RECKON_TEST_MYSQL = '1';
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (process.env.CI === 'true') {
      throw new Error(`MySQL is required in CI but ${url} is not reachable: ${reason}`);
    }
    process.env.RECKON_TEST_MYSQL = '0';
    process.stderr.write(
      `\n*** MySQL at ${url} is not reachable (${reason}).\n*** SKIPPING every MySQL suite; only SQLite suites run. Set TEST_MYSQL_URL or start MariaDB.\n\n`,
    );
  }
}
