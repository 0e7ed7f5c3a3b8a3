import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The request id of the work running now (an HTTP request, one WebSocket operation), carried with its
 * async context, so that a line logged deep in a module (a gateway retry, a statement killed on the
 * database) can name the request it belongs to without every call passing it along. src/server enters
 * it; modules and the database layer only read it.
 */
const requestIds = new AsyncLocalStorage<string>();

export function runWithRequestId<T>(requestId: string, work: () => T): T {
  return requestIds.run(requestId, work);
}

/** The current request id, or undefined outside any request (a periodic job, start-up). */
export function currentRequestId(): string | undefined {
  return requestIds.getStore();
}
