import mysql from 'mysql2/promise';
import { newId } from '../../src/common/ids';
import { runInStatementScope, WorkCancelled } from '../../src/db/statement-scope';
import { isStatementTimeout, runInTransaction } from '../../src/db/transaction';
import { TenantEntity } from '../../src/modules/tenancy/tenant.entity';
import { describeOnMysql, startTestApp, type TestApp } from '../helpers/harness';
import { createAccount } from '../helpers/ledger-fixtures';

/**
 * A read that cannot finish (here: blocked behind `LOCK TABLES accounts WRITE` held by another
 * session, which stands for any statement that runs too long) must not keep running on the database:
 * not past the statement time limit, not past the request's deadline, and not after its client gave
 * up. Each case checks information_schema.PROCESSLIST, not only what the client is told: before, the
 * statement stayed there, waiting for the lock, long after its client had gone.
 */
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const WAIT_MS = 15_000;

interface Answer {
  status: number;
  errors?: { message: string; extensions?: { code?: unknown; retryable?: unknown } }[];
}

describeOnMysql('runaway reads', () => {
  async function sideConnection(app: TestApp): Promise<mysql.Connection> {
    return mysql.createConnection({ uri: (app.runtime.dataSource.options as { url: string }).url });
  }

  /** The API's statements on the accounts table that the database is still running. */
  async function runningAccountReads(observer: mysql.Connection): Promise<string[]> {
    const [rows] = await observer.query(
      `SELECT INFO AS info FROM information_schema.PROCESSLIST
        WHERE DB = DATABASE() AND ID <> CONNECTION_ID() AND INFO LIKE '%accounts%' AND INFO NOT LIKE '%PROCESSLIST%'`,
    );
    return (rows as { info: string }[]).map((row) => row.info);
  }

  async function runningStatements(observer: mysql.Connection, marker: string): Promise<string[]> {
    const [rows] = await observer.query(
      `SELECT INFO AS info FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND INFO LIKE ? AND INFO NOT LIKE '%PROCESSLIST%'`,
      [`%${marker}%`],
    );
    return (rows as { info: string }[]).map((row) => row.info);
  }

  async function until(probe: () => Promise<boolean>, withinMs = WAIT_MS): Promise<boolean> {
    const deadline = Date.now() + withinMs;
    while (Date.now() < deadline) {
      if (await probe()) return true;
      await sleep(100);
    }
    return probe();
  }

  function readAccount(app: TestApp, accountId: string, signal?: AbortSignal): Promise<Answer> {
    return fetch(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${app.apiKey}` },
      body: JSON.stringify({ query: 'query ($id: ID!) { account(id: $id) { id name } }', variables: { id: accountId } }),
      signal,
    }).then(async (response) => ({ status: response.status, ...((await response.json()) as Omit<Answer, 'status'>) }));
  }

  /** Runs `work` while another session holds the accounts table, then releases it. */
  async function withAccountsLocked<T>(app: TestApp, work: (observer: mysql.Connection) => Promise<T>): Promise<T> {
    const locker = await sideConnection(app);
    const observer = await sideConnection(app);
    try {
      await locker.query('LOCK TABLES accounts WRITE');
      return await work(observer);
    } finally {
      await locker.query('UNLOCK TABLES').catch(() => undefined);
      await locker.end();
      await observer.end();
    }
  }

  describe('past the statement time limit', () => {
    let app: TestApp;
    let accountId: string;
    beforeAll(async () => {
      app = await startTestApp('mysql', { env: { DATABASE_STATEMENT_TIMEOUT_MS: '1000', REQUEST_TIMEOUT_MS: '60000' } });
      accountId = (await createAccount(app.client, { type: 'ASSET' })).id;
    });
    afterAll(async () => {
      await app?.close();
    });

    it('is cancelled by the database and answered STATEMENT_TIMEOUT, retryable', async () => {
      await withAccountsLocked(app, async (observer) => {
        // Bounded here too, so that code without the limit fails instead of waiting for the lock.
        const answer = await readAccount(app, accountId, AbortSignal.timeout(WAIT_MS));
        expect(answer.errors?.[0]).toMatchObject({ extensions: { code: 'STATEMENT_TIMEOUT', retryable: true } });
        expect(answer.errors?.[0].message).toMatch(/time limit/);
        expect(await runningAccountReads(observer)).toEqual([]);
      });
      // The connection that ran it serves the next request normally.
      expect((await readAccount(app, accountId)).errors).toBeUndefined();
    });

    it('is killed from outside when the database does not enforce the limit itself', async () => {
      // MariaDB's per-statement override stands for what the server-side limit does not cover (MySQL
      // applies max_execution_time to SELECT only): the client-side bound sends KILL QUERY.
      const started = Date.now();
      const failure = await app.runtime.dataSource.query('SET STATEMENT max_statement_time = 0 FOR SELECT SLEEP(30) AS slept FROM accounts').then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(failure).toBeDefined();
      expect(isStatementTimeout(failure)).toBe(true);
      expect(Date.now() - started).toBeLessThan(15_000);
      await withAccountsLocked(app, async (observer) => expect(await runningAccountReads(observer)).toEqual([]));
    });
  });

  describe('of a request that is abandoned or runs past its deadline', () => {
    let app: TestApp;
    let accountId: string;
    beforeAll(async () => {
      // Limits far away: only the abandonment or the request deadline can end the statement in time.
      app = await startTestApp('mysql', { env: { DATABASE_STATEMENT_TIMEOUT_MS: '120000', DATABASE_LONG_STATEMENT_TIMEOUT_MS: '120000', REQUEST_TIMEOUT_MS: '4000' } });
      accountId = (await createAccount(app.client, { type: 'ASSET' })).id;
    });
    afterAll(async () => {
      await app?.close();
    });

    it('has its statement killed when its client goes away', async () => {
      await withAccountsLocked(app, async (observer) => {
        const client = new AbortController();
        const answer = readAccount(app, accountId, client.signal).catch((error: unknown) => error);
        expect(await until(async () => (await runningAccountReads(observer)).length > 0)).toBe(true);
        client.abort();
        await answer;
        // Well before the request's own deadline (4 s) could have ended it.
        expect(await until(async () => (await runningAccountReads(observer)).length === 0, 2500)).toBe(true);
      });
      expect((await readAccount(app, accountId)).errors).toBeUndefined();
    });

    it('rolls back the transaction whose statement was killed, and still ends it', async () => {
      const tenantId = newId('tenant');
      const cancel = new AbortController();
      const observer = await sideConnection(app);
      try {
        const attempt = runInStatementScope({ signal: cancel.signal, cancellable: true, limit: 'default' }, () =>
          runInTransaction(app.runtime.dataSource, async (manager) => {
            await manager.insert(TenantEntity, { id: tenantId, name: 'written, then cancelled', createdAt: new Date() });
            await manager.query('SELECT SLEEP(60) AS slept_in_transaction');
          }),
        ).then(
          () => undefined,
          (error: unknown) => error,
        );
        expect(await until(async () => (await runningStatements(observer, 'slept_in_transaction')).length > 0)).toBe(true);
        cancel.abort(new WorkCancelled('The client closed the connection before the answer.'));
        expect(await attempt).toMatchObject({ code: 'STATEMENT_TIMEOUT' });
        expect(await runningStatements(observer, 'slept_in_transaction')).toEqual([]);
      } finally {
        await observer.end();
      }
      expect(await app.runtime.dataSource.query('SELECT id FROM tenants WHERE id = ?', [tenantId])).toEqual([]);
      // Its connection went back to the pool with no transaction left open.
      const [{ open }] = await app.runtime.dataSource.query('SELECT @@in_transaction AS open');
      expect(Number(open)).toBe(0);
    });

    it('has its statement killed at the request deadline and answers STATEMENT_TIMEOUT', async () => {
      await withAccountsLocked(app, async (observer) => {
        const answer = await readAccount(app, accountId, AbortSignal.timeout(WAIT_MS));
        expect(answer.errors?.[0]).toMatchObject({ extensions: { code: 'STATEMENT_TIMEOUT', retryable: true } });
        expect(answer.errors?.[0].message).toMatch(/request ran past its time limit/);
        expect(await until(async () => (await runningAccountReads(observer)).length === 0, 5000)).toBe(true);
      });
    });
  });
});
