/** One Server-Sent Event as a client sees it. */
export interface SseEvent {
  event: string;
  id: string;
  data: string;
}

/**
 * A text/event-stream read over real HTTP with fetch's body reader, parsed as the WHATWG spec says
 * (fields `event`, `id`, `data`, `retry`; comment lines ignored). Events are kept in arrival order;
 * `take` waits for them.
 */
export class SseStream {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  retryMs: number | null = null;
  ended = false;
  private readonly controller = new AbortController();
  private waiters: (() => void)[] = [];
  private reading: Promise<void> = Promise.resolve();

  private constructor(
    readonly status: number,
    readonly headers: Headers,
  ) {}

  /** Opens the stream; a refusal (not 200) is returned with its body read as `problem`. */
  static async open(url: string, headers: Record<string, string> = {}): Promise<{ stream: SseStream; problem: null } | { stream: null; status: number; headers: Headers; problem: Record<string, unknown> }> {
    const controller = new AbortController();
    const response = await fetch(url, { headers: { Accept: 'text/event-stream', ...headers }, signal: controller.signal });
    if (response.status !== 200) {
      const text = await response.text();
      return { stream: null, status: response.status, headers: response.headers, problem: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    }
    const stream = new SseStream(response.status, response.headers);
    stream.controller.signal.addEventListener('abort', () => controller.abort());
    stream.reading = stream.read(response.body as ReadableStream<Uint8Array>);
    return { stream, problem: null };
  }

  /** Waits until `count` events (of any name) have arrived in all, and returns the first `count`. */
  async take(count: number, timeoutMs = 15_000): Promise<SseEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.events.length < count) {
      if (this.ended) throw new Error(`the stream ended after ${this.events.length} of ${count} events: ${JSON.stringify(this.events)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`only ${this.events.length} of ${count} events within ${timeoutMs} ms: ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.events.slice(0, count);
  }

  /** Events other than the opening `ready` one. */
  get feedEvents(): SseEvent[] {
    return this.events.filter((event) => event.event !== 'ready');
  }

  /** The id of the last event received: what EventSource sends as Last-Event-ID on reconnecting. */
  get lastEventId(): string {
    return this.events.at(-1)?.id ?? '';
  }

  /** Waits for the server to end the stream. */
  async untilEnded(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error(`the stream was still open after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async close(): Promise<void> {
    this.controller.abort();
    await this.reading;
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    let fields: Partial<SseEvent> & { data?: string } = {};
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let newline: number;
        while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + (buffer.startsWith('\r\n', newline) ? 2 : 1));
          if (line === '') {
            if (fields.data !== undefined) {
              this.events.push({ event: fields.event ?? 'message', id: fields.id ?? '', data: fields.data });
              for (const wake of this.waiters.splice(0)) wake();
            }
            fields = {};
            continue;
          }
          if (line.startsWith(':')) {
            this.comments.push(line.slice(1).trim());
            continue;
          }
          const colon = line.indexOf(':');
          const name = colon < 0 ? line : line.slice(0, colon);
          const fieldValue = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (name === 'data') fields.data = fields.data === undefined ? fieldValue : `${fields.data}\n${fieldValue}`;
          else if (name === 'event') fields.event = fieldValue;
          else if (name === 'id') fields.id = fieldValue;
          else if (name === 'retry') this.retryMs = Number(fieldValue);
        }
      }
    } catch {
      // Aborted by close(), or the connection was cut: the stream has ended either way.
    } finally {
      this.ended = true;
      for (const wake of this.waiters.splice(0)) wake();
    }
  }
}

/**
 * A suite's streams of one path: opened with a key (or none), remembered, and closed together when the
 * suite ends, so that no test leaves a stream holding its server open.
 */
export class SuiteStreams {
  private readonly opened: SseStream[] = [];

  constructor(private readonly urlOf: () => string) {}

  async open(apiKey: string | null, query = '', headers: Record<string, string> = {}): ReturnType<typeof SseStream.open> {
    const opened = await SseStream.open(`${this.urlOf()}${query}`, { ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}), ...headers });
    if (opened.stream) this.opened.push(opened.stream);
    return opened;
  }

  /** A stream the server accepted, past its opening `ready` event; a refusal throws. */
  async openOk(apiKey: string, query = '', headers: Record<string, string> = {}): Promise<SseStream> {
    const opened = await this.open(apiKey, query, headers);
    if (!opened.stream) throw new Error(`the stream was refused: ${JSON.stringify(opened.problem)}`);
    await opened.stream.take(1);
    return opened.stream;
  }

  /** Remembers a stream opened otherwise, to close it with the rest. */
  add(stream: SseStream): void {
    this.opened.push(stream);
  }

  closeAll(): Promise<void[]> {
    return Promise.all(this.opened.map((stream) => stream.close()));
  }
}
