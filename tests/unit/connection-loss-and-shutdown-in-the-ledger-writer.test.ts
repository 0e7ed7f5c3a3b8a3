import { GraphQLError } from 'graphql';
import type { DataSource } from 'typeorm';
import { systemClock } from '../../src/common/clock';
import { AppError, ErrorCode } from '../../src/common/errors';
import { DatabaseUnavailableError, isConnectionError, isRetryableConflict, runInTransaction } from '../../src/db/transaction';
import { JournalEntryStatus } from '../../src/modules/ledger/ledger.types';
import { type LedgerCommand, LedgerWriter } from '../../src/modules/ledger/ledger-writer';
import { formatError } from '../../src/server/format-error';

/** An error shaped as mysql2 makes it (message, code, fatal), optionally wrapped as TypeORM wraps it. */
function mysql2Error(message: string, fields: { code?: string; errno?: number; fatal?: boolean } = {}): Error {
  return Object.assign(new Error(message), fields);
}

function wrappedByTypeOrm(driverError: Error): Error {
  return Object.assign(new Error(driverError.message), { name: 'QueryFailedError', driverError, code: (driverError as { code?: string }).code });
}

describe('what counts as a lost database connection', () => {
  it.each([
    ['a reset socket', mysql2Error('read ECONNRESET', { code: 'ECONNRESET', fatal: true })],
    ['a refused connect', mysql2Error('connect ECONNREFUSED 127.0.0.1:3306', { code: 'ECONNREFUSED', fatal: true })],
    ['a connect timeout', mysql2Error('connect ETIMEDOUT', { code: 'ETIMEDOUT', fatal: true })],
    ['the server closing the socket', mysql2Error('Connection lost: The server closed the connection.', { code: 'PROTOCOL_CONNECTION_LOST', fatal: true })],
    ['a statement on a dead connection', mysql2Error("Can't add new command when connection is in closed state", { fatal: true })],
    ['a closed pool', mysql2Error('Pool is closed.')],
    ['too many connections', mysql2Error('Too many connections', { code: 'ER_CON_COUNT_ERROR', errno: 1040 })],
    ['a server shutting down', mysql2Error('Server shutdown in progress', { code: 'ER_SERVER_SHUTDOWN', errno: 1053 })],
    ['a TypeORM QueryFailedError around a reset', wrappedByTypeOrm(mysql2Error('read ECONNRESET', { code: 'ECONNRESET', fatal: true }))],
    ['a TypeORM QueryFailedError around a dead connection', wrappedByTypeOrm(mysql2Error("Can't add new command when connection is in closed state", { fatal: true }))],
  ])('%s is a connection error, shown as SERVICE_UNAVAILABLE (retryable)', (_name, error) => {
    expect(isConnectionError(error)).toBe(true);
    expect(isRetryableConflict(error)).toBe(false);
    expect(formatError(new GraphQLError('x').toJSON(), error)).toMatchObject({
      message: 'The database is unavailable. Retry later.',
      extensions: { code: ErrorCode.SERVICE_UNAVAILABLE, retryable: true },
    });
  });

  it.each([
    ['a deadlock', mysql2Error('Deadlock found', { code: 'ER_LOCK_DEADLOCK', errno: 1213 })],
    ['a duplicate key', mysql2Error('Duplicate entry', { code: 'ER_DUP_ENTRY', errno: 1062 })],
    ['a syntax error', mysql2Error('You have an error in your SQL syntax', { code: 'ER_PARSE_ERROR', errno: 1064 })],
    ['a programming error', new TypeError('x is undefined')],
  ])('%s is not', (_name, error) => {
    expect(isConnectionError(error)).toBe(false);
  });

  it('turns a connection lost inside runInTransaction into DatabaseUnavailableError, without running the work again', async () => {
    const transaction = jest.fn(async () => {
      throw wrappedByTypeOrm(mysql2Error('read ECONNRESET', { code: 'ECONNRESET', fatal: true }));
    });
    const dataSource = { options: { type: 'mysql' }, transaction } as unknown as DataSource;
    const failure = await runInTransaction(dataSource, async () => undefined).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(DatabaseUnavailableError);
    expect(failure).toMatchObject({ code: ErrorCode.SERVICE_UNAVAILABLE });
    // A COMMIT whose answer was lost may have committed: it is never run a second time here.
    expect(transaction).toHaveBeenCalledTimes(1);
  });
});

function command(index: number): LedgerCommand {
  return {
    type: 'create',
    tenantId: 'ten_A',
    status: JournalEntryStatus.POSTED,
    description: `command ${index}`,
    effectiveAt: new Date(),
    externalRef: null,
    metadata: null,
    lines: [],
  };
}

/** A DataSource whose transactions wait for `open()` and then fail or succeed as told. */
function gatedDataSource(outcome: () => unknown) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const transaction = jest.fn(async (work: (manager: unknown) => Promise<unknown>) => {
    await gate;
    const result = outcome();
    if (result instanceof Error) throw result;
    return work({ query: async () => [] });
  });
  const dataSource = { options: { type: 'mysql' }, transaction } as unknown as DataSource;
  return { dataSource, transaction, open };
}

describe('the ledger writer', () => {
  it('fails a whole batch on a lost connection without writing its commands again one by one', async () => {
    const { dataSource, transaction, open } = gatedDataSource(() => mysql2Error('read ECONNRESET', { code: 'ECONNRESET', fatal: true }));
    const writer = new LedgerWriter(dataSource, systemClock, { maxBatchSize: 10, maxConcurrentBatches: 1 });
    // The first command takes the one batch slot; the next three queue behind it and form one batch.
    const outcomes = [0, 1, 2, 3].map((index) => writer.submit(command(index)).catch((error: unknown) => error));
    open();
    const failures = await Promise.all(outcomes);
    for (const failure of failures) {
      expect(failure).toBeInstanceOf(DatabaseUnavailableError);
    }
    // One transaction for the first command, one for the batch of three: none split and retried.
    expect(transaction).toHaveBeenCalledTimes(2);
  });

  it('on close, refuses new commands, writes the ones accepted, and fails those still queued at the deadline', async () => {
    const { dataSource, open } = gatedDataSource(() => undefined);
    const writer = new LedgerWriter(dataSource, systemClock, { maxBatchSize: 1, maxConcurrentBatches: 1 });
    const first = writer.submit(command(0));
    const second = writer.submit(command(1)).catch((error: unknown) => error);
    expect(writer.pendingCount).toBe(2);

    const closed = writer.close(Date.now() + 50);
    const refused = await writer.submit(command(2)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(AppError);
    expect(refused).toMatchObject({ code: ErrorCode.SERVICE_UNAVAILABLE });

    // The deadline passes with the first command still committing: the queued one fails, not dropped.
    expect(await closed).toBe(false);
    expect(await second).toMatchObject({ code: ErrorCode.SERVICE_UNAVAILABLE });
    open();
    await expect(first).resolves.toMatchObject({ ok: true });
    expect(writer.pendingCount).toBe(0);
  });

  it('on close, waits for the commands accepted before', async () => {
    const { dataSource, open } = gatedDataSource(() => undefined);
    const writer = new LedgerWriter(dataSource, systemClock, { maxBatchSize: 1, maxConcurrentBatches: 1 });
    const written = [writer.submit(command(0)), writer.submit(command(1))];
    let closedAt = 0;
    const closed = writer.close().then((drained) => {
      closedAt = Date.now();
      return drained;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closedAt).toBe(0);
    const openedAt = Date.now();
    open();
    expect(await closed).toBe(true);
    expect(closedAt).toBeGreaterThanOrEqual(openedAt);
    for (const outcome of await Promise.all(written)) expect(outcome).toMatchObject({ ok: true });
  });
});
