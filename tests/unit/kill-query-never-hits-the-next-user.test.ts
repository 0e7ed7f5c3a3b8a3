import { DEFAULT_STATEMENT_LIMITS, MysqlGuards } from '../../src/db/mysql-guards';
import { runInStatementScope, WorkCancelled } from '../../src/db/statement-scope';
import { isStatementTimeout, statementTimeoutError } from '../../src/db/transaction';

/**
 * KILL QUERY names a connection, not a statement. When a cancelled request's statement ends just
 * before its KILL reaches the database, the connection goes back to the pool and the next request's
 * statement would be the one killed. The guard sends nothing on a connection while a KILL for it is
 * in flight. Fakes stand in for mysql2 here, so that the race can be played in exactly this order.
 */
type Callback = (error: Error | null, rows?: unknown) => void;

class FakeConnection {
  readonly threadId = 7;
  readonly _handshakePacket = { serverVersion: '5.5.5-10.11.19-MariaDB' };
  readonly sent: string[] = [];
  private readonly pending = new Map<string, Callback>();

  query(sql: string, _values: unknown, callback: Callback): void {
    this.sent.push(sql);
    if (sql.startsWith('SET SESSION')) process.nextTick(() => callback(null, {}));
    else this.pending.set(sql, callback);
  }

  answer(sql: string, error: Error | null, rows: unknown = []): void {
    const callback = this.pending.get(sql);
    if (!callback) throw new Error(`${sql} is not running`);
    this.pending.delete(sql);
    callback(error, rows);
  }

  destroy(): void {}
  release(): void {}
  on(): void {}
}

function setUp() {
  const connection = new FakeConnection();
  const killer = new FakeConnection();
  const driver = {
    mysql: { createConnection: () => killer },
    options: {},
    createPool: async () => pool,
    createConnectionOptions: () => ({}),
  };
  const pool = { getConnection: (callback: (error: Error | null, connection: FakeConnection) => void) => process.nextTick(() => callback(null, connection)) };
  const guards = new MysqlGuards(driver as never, DEFAULT_STATEMENT_LIMITS);
  guards.guardPool(pool as never);
  const acquire = () => new Promise<FakeConnection>((resolve, reject) => pool.getConnection((error, c) => (error ? reject(error) : resolve(c))));
  const run = (c: FakeConnection, sql: string) =>
    new Promise<{ error: Error | null; rows?: unknown }>((resolve) => c.query(sql, undefined, (error, rows) => resolve({ error, rows })));
  return { connection, killer, guards, acquire, run };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('cancelling a statement with KILL QUERY', () => {
  it('holds back the next statement on the connection until the KILL is answered', async () => {
    const { connection, killer, acquire, run } = setUp();
    const abandoned = new AbortController();
    const first = await acquire();
    const read = runInStatementScope({ signal: abandoned.signal, cancellable: true, limit: 'default' }, () => run(first, 'SELECT slow'));
    await tick();
    expect(connection.sent).toEqual(['SET SESSION max_statement_time = 5', 'SELECT slow']);

    abandoned.abort(new WorkCancelled('The client closed the connection before the answer.'));
    expect(killer.sent).toEqual(['KILL QUERY 7']);
    // The statement ends on its own before the KILL lands; the connection is used by the next request.
    connection.answer('SELECT slow', null, [{ done: 1 }]);
    expect((await read).rows).toEqual([{ done: 1 }]);
    const next = run(await acquire(), 'SELECT next');
    await tick();
    expect(connection.sent).not.toContain('SELECT next');

    killer.answer('KILL QUERY 7', null);
    await tick();
    expect(connection.sent).toContain('SELECT next');
    connection.answer('SELECT next', null, [{ ok: 1 }]);
    expect((await next).rows).toEqual([{ ok: 1 }]);
  });

  it('fails the killed statement with the reason, and refuses the scope’s later statements unsent, ROLLBACK excepted', async () => {
    const { connection, killer, acquire, run } = setUp();
    const deadline = new AbortController();
    const c = await acquire();
    const scope = { signal: deadline.signal, cancellable: true, limit: 'default' as const };
    const read = runInStatementScope(scope, () => run(c, 'SELECT slow'));
    await tick();
    deadline.abort(new WorkCancelled('The request ran past its time limit (30000 ms) and its database work was cancelled.'));
    killer.answer('KILL QUERY 7', null);
    connection.answer('SELECT slow', Object.assign(new Error('Query execution was interrupted'), { errno: 1317 }));
    const { error } = await read;
    expect(isStatementTimeout(error)).toBe(true);
    expect(statementTimeoutError(error).message).toMatch(/request ran past its time limit/);

    const later = await runInStatementScope(scope, () => run(c, 'SELECT later'));
    expect(isStatementTimeout(later.error)).toBe(true);
    expect(connection.sent).not.toContain('SELECT later');
    const rollback = runInStatementScope(scope, () => run(c, 'ROLLBACK'));
    await tick();
    expect(connection.sent).toContain('ROLLBACK');
    connection.answer('ROLLBACK', null, {});
    expect((await rollback).error).toBeNull();
  });

  it('leaves the statements of a scope that is not cancellable (a mutation) alone when it aborts', async () => {
    const { connection, killer, acquire, run } = setUp();
    const gone = new AbortController();
    const c = await acquire();
    const write = runInStatementScope({ signal: gone.signal, cancellable: false, limit: 'default' }, () => run(c, 'UPDATE accounts'));
    await tick();
    gone.abort(new WorkCancelled('The client closed the connection before the answer.'));
    expect(killer.sent).toEqual([]);
    connection.answer('UPDATE accounts', null, { affectedRows: 1 });
    expect((await write).error).toBeNull();
  });
});
