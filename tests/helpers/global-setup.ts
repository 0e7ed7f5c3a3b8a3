import mysql from 'mysql2/promise';

/**
 * Decides once per run whether the MySQL suites run. Outside CI an unreachable server skips them with
 * a clear notice; in CI (CI=true) they are mandatory and an unreachable server fails the run.
 */
export default async function globalSetup(): Promise<void> {
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
