import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { type ReckonDocument, ReckonError } from '../../client/src/reckon-client';
import type { Session } from './session';

export interface QueryState<TData> {
  data: TData | null;
  error: ReckonError | null;
  loading: boolean;
  reload(): void;
}

/** Runs a query when the view mounts and whenever `variables` change (compared as JSON); cancels the stale one. */
export function useQuery<TData, TVariables>(session: Session, document: ReckonDocument<TData, TVariables>, variables: TVariables | null): QueryState<TData> {
  const [state, setState] = useState<{ data: TData | null; error: ReckonError | null; loading: boolean }>({ data: null, error: null, loading: variables !== null });
  const [generation, setGeneration] = useState(0);
  const key = variables === null ? null : JSON.stringify(variables);
  const latest = useRef(0);
  useEffect(() => {
    if (key === null) return;
    const controller = new AbortController();
    const request = ++latest.current;
    setState((previous) => ({ ...previous, loading: true, error: null }));
    // request()'s rest parameters depend on whether TVariables has required fields, which a generic hook cannot tell.
    const client = session.client as unknown as { request(document: ReckonDocument<TData, TVariables>, variables: TVariables, options: { signal: AbortSignal }): Promise<{ data: TData }> };
    client.request(document, JSON.parse(key) as TVariables, { signal: controller.signal }).then(
      ({ data }) => {
        if (request === latest.current) setState({ data, error: null, loading: false });
      },
      (error: unknown) => {
        if (controller.signal.aborted || request !== latest.current) return;
        setState({ data: null, error: asReckonError(error), loading: false });
      },
    );
    return () => controller.abort();
  }, [session, document, key, generation]);
  const reload = useCallback(() => setGeneration((value) => value + 1), []);
  return { ...state, reload };
}

export function asReckonError(error: unknown): ReckonError {
  if (error instanceof ReckonError) return error;
  return new ReckonError({ code: 'CLIENT_ERROR', message: error instanceof Error ? error.message : String(error), retryable: false });
}
