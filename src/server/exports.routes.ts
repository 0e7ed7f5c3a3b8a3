import express, { type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { echoOfInput } from '../common/echo';
import { AppError, ErrorCode, validationError } from '../common/errors';
import { runInStatementScope, WorkCancelled } from '../db/statement-scope';
import { isConnectionError, isStatementTimeout, statementTimeoutError } from '../db/transaction';
import type { RequestContext } from '../graphql/context';
import { allowsScope, insufficientScopeError, Scope } from '../modules/auth/scopes';
import {
  csvHeader,
  JOURNAL_ENTRIES_CSV_COLUMNS,
  journalEntriesCsvRecord,
  journalPreamble,
  journalTransaction,
  TRIAL_BALANCE_CSV_COLUMNS,
  trialBalanceCsvRecord,
} from '../modules/ledger/ledger-export.formats';
import type { ExportRange } from '../modules/ledger/ledger-export.service';
import type { Services } from '../services/services';
import { refusalHeadersOf, sendRestError } from './rest-errors';

/** What a date parameter accepts, as refusals say it. */
const ACCEPTED_DATE = 'a date YYYY-MM-DD (UTC) or an RFC 3339 date-time such as 2026-01-31T09:30:00Z';
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/i;

function isCalendarDate(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * An instant from a query parameter. A date alone is the start of that UTC day, or with `endOfDay`
 * its last millisecond (a trial balance "as of 2026-01-31" is the books at the end of that day).
 */
function instantOf(name: string, raw: string, endOfDay = false): Date {
  const refuse = () => validationError(`${name} must be ${ACCEPTED_DATE}; got "${echoOfInput(raw)}"`, { field: name, expected: ACCEPTED_DATE });
  const dateOnly = DATE_ONLY.exec(raw);
  if (dateOnly) {
    const [year, month, day] = dateOnly.slice(1, 4).map(Number);
    if (!isCalendarDate(year, month, day)) throw refuse();
    const start = Date.UTC(year, month - 1, day);
    // Date.UTC maps years 0–99 to 1900–1999: set the year itself.
    const date = new Date(start);
    date.setUTCFullYear(year);
    return endOfDay ? new Date(date.getTime() + 86_400_000 - 1) : date;
  }
  const dateTime = DATE_TIME.exec(raw);
  if (!dateTime) throw refuse();
  const [year, month, day, hour, minute, second = 0, offsetHours = 0, offsetMinutes = 0] = dateTime.slice(1).map((part) => Number(part ?? 0));
  if (!isCalendarDate(year, month, day) || hour > 23 || minute > 59 || second > 59 || offsetHours > 23 || offsetMinutes > 59) throw refuse();
  const date = new Date(raw);
  if (Number.isNaN(date.getTime())) throw refuse();
  return date;
}

/**
 * The query parameters of an export: only the named ones, each at most once. A misspelt `?form=`
 * would otherwise export every entry without a word.
 */
function paramsOf(req: Request, allowed: readonly string[]): Map<string, string> {
  const params = new Map<string, string>();
  for (const [name, value] of Object.entries(req.query ?? {})) {
    if (!allowed.includes(name)) {
      throw validationError(
        `Unknown query parameter "${echoOfInput(name)}"; ${allowed.length ? `this export takes ${allowed.join(', ')}` : 'this export takes none'}`,
        { field: echoOfInput(name) },
      );
    }
    if (typeof value !== 'string') throw validationError(`Give ${name} once`, { field: name });
    if (value !== '') params.set(name, value);
  }
  return params;
}

function rangeOf(req: Request): ExportRange {
  const params = paramsOf(req, ['from', 'to']);
  const from = params.get('from');
  const to = params.get('to');
  return { from: from === undefined ? null : instantOf('from', from), to: to === undefined ? null : instantOf('to', to) };
}

/** A piece of an export: its text and how many records (CSV rows or transactions) it holds. */
interface Chunk {
  text: string;
  records: number;
}

/** The CSV text of pages: the header row goes out with the first page (or alone, for an empty export). */
async function* csvChunks<T>(columns: readonly string[], pages: AsyncIterable<T[]>, record: (row: T) => string): AsyncGenerator<Chunk> {
  let header = csvHeader(columns);
  for await (const page of pages) {
    yield { text: header + page.map(record).join(''), records: page.length };
    header = '';
  }
  if (header) yield { text: header, records: 0 };
}

/** Until the client has taken what was written (`drain`), or has gone (`close`). */
function drained(res: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

interface ExportSpec {
  name: string;
  contentType: string;
  filename: string;
  /** Checks the request (its parameters) and returns the export's chunks; throws AppError to refuse. */
  chunks(tenantId: string, req: Request, signal: AbortSignal): AsyncGenerator<Chunk>;
}

/**
 * GET /exports/journal-entries.csv?from&to, /exports/trial-balance.csv?asOf and /exports/journal.ledger?from&to:
 * the books for a spreadsheet, a bookkeeping import, or hledger/ledger (see the README's Exports
 * section for the layouts). Authenticated like /graphql (Authorization: Bearer …, scope ledger:read)
 * and tenant-scoped; refusals are the REST routes' JSON (sendRestError), sent before the first byte of
 * the export. The export is read in pages of EXPORT_PAGE_ROWS and each page is written before the next
 * is read, waiting whenever the client is slower than the database (`res.write` returning false), so
 * memory stays at about one page whatever the export's size. A client that goes away stops the reads:
 * no page is read after it, and a MySQL statement running then is cancelled. A failure after the first
 * byte can no longer change the status: the connection is cut without the final chunk, so the client
 * sees an incomplete transfer, never a file that looks whole.
 */
export function exportRoutes(services: Services, log: Logger, authenticate: (req: Request, requestId: string) => Promise<RequestContext>): express.Router {
  const router = express.Router();
  const exports = services.ledgerExports;

  const serve = (spec: ExportSpec) => async (req: Request, res: Response) => {
    const requestId = String(res.locals.requestId);
    const started = Date.now();
    let tenantId: string | undefined;
    let records = 0;
    let bytes = 0;
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort(new WorkCancelled('The client closed the connection before the export ended.'));
    });
    try {
      const ctx = await authenticate(req, requestId);
      tenantId = ctx.principal.tenantId;
      if (!allowsScope(ctx.principal.scopes, Scope.LEDGER_READ)) throw insufficientScopeError(Scope.LEDGER_READ);
      const tenant = tenantId;
      // Reads are cancellable (a client gone) and run under the long statement limit (an export is a long read).
      await runInStatementScope({ signal: controller.signal, cancellable: true, limit: 'long' }, async () => {
        for await (const chunk of spec.chunks(tenant, req, controller.signal)) {
          if (controller.signal.aborted) break;
          if (!res.headersSent) {
            res.status(200).set({
              'Content-Type': spec.contentType,
              'Content-Disposition': `attachment; filename="${spec.filename}"`,
              'Cache-Control': 'private, no-store',
            });
          }
          records += chunk.records;
          bytes += Buffer.byteLength(chunk.text);
          if (!res.write(chunk.text)) await drained(res);
          // SQLite answers synchronously: without a turn of the event loop between pages, a long export
          // would hold off every other request, and the close of its own client, until its end.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      });
      if (controller.signal.aborted) {
        log.info({ requestId, tenantId, export: spec.name, records, bytes, ms: Date.now() - started }, 'export stopped: the client went away');
        return;
      }
      res.end();
      log.info({ requestId, tenantId, export: spec.name, records, bytes, ms: Date.now() - started }, 'export served');
    } catch (error) {
      if (controller.signal.aborted) {
        log.info({ requestId, tenantId, export: spec.name, records, bytes }, 'export stopped: the client went away');
        return;
      }
      if (res.headersSent) {
        log.warn({ requestId, tenantId, export: spec.name, records, bytes, err: error }, 'export failed after its first byte; connection cut');
        res.destroy();
        return;
      }
      if (error instanceof AppError) {
        log.info({ requestId, tenantId, export: spec.name, code: error.code }, 'export refused');
        sendRestError(res, error, refusalHeadersOf(error));
      } else if (isStatementTimeout(error)) {
        log.warn({ requestId, tenantId, export: spec.name }, 'export ran past its statement time limit');
        sendRestError(res, statementTimeoutError(error));
      } else if (isConnectionError(error)) {
        log.warn({ requestId, tenantId, export: spec.name, err: error }, 'export failed: database unavailable');
        sendRestError(res, new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'The database is unavailable. Retry later.'));
      } else {
        log.error({ requestId, tenantId, export: spec.name, err: error }, 'export failed');
        sendRestError(res, new AppError(ErrorCode.INTERNAL_SERVER_ERROR, 'Internal server error'));
      }
    }
  };

  router.get(
    '/exports/journal-entries.csv',
    serve({
      name: 'journal-entries.csv',
      contentType: 'text/csv; charset=utf-8; header=present',
      filename: 'journal-entries.csv',
      chunks: (tenantId, req, signal) => {
        const range = exports.requireRange(rangeOf(req));
        return csvChunks(JOURNAL_ENTRIES_CSV_COLUMNS, exports.postingPages(tenantId, range, signal), journalEntriesCsvRecord);
      },
    }),
  );

  router.get(
    '/exports/trial-balance.csv',
    serve({
      name: 'trial-balance.csv',
      contentType: 'text/csv; charset=utf-8; header=present',
      filename: 'trial-balance.csv',
      chunks: (tenantId, req, signal) => {
        const asOf = paramsOf(req, ['asOf']).get('asOf');
        const asOfDate = asOf === undefined ? null : instantOf('asOf', asOf, true);
        return (async function* () {
          const report = await exports.trialBalance(tenantId, asOfDate);
          yield* csvChunks(TRIAL_BALANCE_CSV_COLUMNS, exports.trialBalancePages(tenantId, report, signal), trialBalanceCsvRecord);
        })();
      },
    }),
  );

  router.get(
    '/exports/journal.ledger',
    serve({
      name: 'journal.ledger',
      contentType: 'text/plain; charset=utf-8',
      filename: 'journal.ledger',
      chunks: (tenantId, req, signal) => {
        const range = exports.requireRange(rangeOf(req));
        return (async function* () {
          let preamble = journalPreamble([
            `Reckon journal of tenant ${tenantId}: the posted entries booked from ${range.from?.toISOString() ?? 'the first'} ${
              range.to ? `to before ${range.to.toISOString()}` : 'to the last'
            }.`,
            'Pending entries (authorizations not yet captured) and voided ones are not in the books, and not here.',
            'Dates are UTC days. Each transaction: code and tag entry = the journal entry id, ref = its external reference,',
            'reverses = the entry it reverses, meta.<key> = its metadata. Debits are positive, credits negative.',
          ]);
          for await (const page of exports.entryPages(tenantId, range, signal)) {
            yield { text: preamble + page.map(journalTransaction).join(''), records: page.length };
            preamble = '';
          }
          if (preamble) yield { text: preamble, records: 0 };
        })();
      },
    }),
  );

  return router;
}
