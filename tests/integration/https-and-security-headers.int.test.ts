import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { describeEachDatabase, startTestApp, type TestApp } from '../helpers/harness';

/**
 * TLS_CERT_FILE and TLS_KEY_FILE make the one server speak HTTPS and WSS, with a certificate made here
 * by the openssl CLI; helmet's headers are on every answer, HSTS only over HTTPS; Apollo's CSRF
 * prevention refuses simple requests; and plain HTTP or WS to the TLS port gets no answer.
 */

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(url: string, options: https.RequestOptions & { body?: string }): Promise<Answer> {
  const { body, ...rest } = options;
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { ...rest, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

interface SocketOutcome {
  opened: boolean;
  messages: { type: string; id?: string; payload?: unknown }[];
  closed?: { code: number; reason: string };
  error?: string;
}

/**
 * A bare graphql-transport-ws exchange over `ws`: connection_init with the credential, then one
 * operation, collecting every message until the operation completes or the socket closes.
 */
function socketExchange(url: string, options: { ca?: string; authorization: string; query?: string }): Promise<SocketOutcome> {
  return new Promise((resolve) => {
    const outcome: SocketOutcome = { opened: false, messages: [] };
    const socket = new WebSocket(url, 'graphql-transport-ws', { ca: options.ca, handshakeTimeout: 10_000 });
    const finish = () => {
      clearTimeout(timer);
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      outcome.error = 'timed out';
      socket.terminate();
    }, 10_000);
    socket.on('open', () => {
      outcome.opened = true;
      socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: options.authorization } }));
    });
    socket.on('message', (data: WebSocket.RawData) => {
      const message = JSON.parse(String(data)) as SocketOutcome['messages'][number];
      outcome.messages.push(message);
      if (message.type === 'connection_ack' && options.query) {
        socket.send(JSON.stringify({ type: 'subscribe', id: '1', payload: { query: options.query } }));
      }
      if (message.type === 'connection_ack' && !options.query) socket.close(1000);
      if (message.type === 'complete' || message.type === 'error') socket.close(1000);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      outcome.error = error.code ?? error.message;
    });
    socket.on('close', (code: number, reason: Buffer) => {
      outcome.closed = { code, reason: reason.toString('utf8') };
      finish();
    });
  });
}

const openssl = spawnSync('openssl', ['version'], { encoding: 'utf8' });
const opensslMissing = openssl.error !== undefined || openssl.status !== 0;
if (opensslMissing && process.env.CI === 'true') throw new Error('The openssl CLI is required in CI to make the test certificate');
const describeWithOpenssl: typeof describeEachDatabase = opensslMissing
  ? (name, suite) => describe.skip(`${name} [skipped: no openssl CLI]`, () => suite('sqlite'))
  : describeEachDatabase;

/** A self-signed P-256 certificate for localhost and 127.0.0.1, valid for a day. */
function makeCertificate(): { certFile: string; keyFile: string; certPem: string; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'reckon-tls-'));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ],
    { stdio: 'pipe' },
  );
  return { certFile, keyFile, certPem: fs.readFileSync(certFile, 'utf8'), dir };
}

describeWithOpenssl('HTTPS with a self-signed certificate, and security headers', (kind) => {
  let app: TestApp;
  let certificate: ReturnType<typeof makeCertificate>;

  beforeAll(async () => {
    certificate = makeCertificate();
    app = await startTestApp(kind, { env: { TLS_CERT_FILE: certificate.certFile, TLS_KEY_FILE: certificate.keyFile } });
  });
  afterAll(async () => {
    await app?.close();
    if (certificate) fs.rmSync(certificate.dir, { recursive: true, force: true });
  });

  const graphql = (query: string, headers: Record<string, string> = {}, ca?: string) =>
    request(app.url, {
      method: 'POST',
      ca,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${app.apiKey}`, ...headers },
      body: JSON.stringify({ query }),
    });

  it('serves GraphQL over HTTPS to a client that trusts the certificate', async () => {
    expect(app.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/graphql$/);
    const answer = await graphql('{ me { tenant { id } } }', {}, certificate.certPem);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ data: { me: { tenant: { id: app.tenantId } } } });
  });

  it('sends helmet’s headers, HSTS included, and no X-Powered-By', async () => {
    const answer = await graphql('{ me { credentialId } }', {}, certificate.certPem);
    expect(answer.headers['strict-transport-security']).toMatch(/^max-age=\d{7,}; includeSubDomains$/);
    expect(answer.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'x-dns-prefetch-control': 'off',
      'x-permitted-cross-domain-policies': 'none',
    });
    expect(answer.headers['content-security-policy']).toContain("default-src 'self'");
    expect(answer.headers['x-powered-by']).toBeUndefined();
    expect(answer.headers['x-request-id']).toMatch(/^req_/);
    const health = await request(app.url.replace('/graphql', '/healthz'), { method: 'GET', ca: certificate.certPem });
    expect(health.status).toBe(200);
    expect(health.headers['strict-transport-security']).toBeDefined();
  });

  it('is refused by a client that does not trust the certificate', async () => {
    await expect(graphql('{ me { credentialId } }')).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  });

  it('gives plain HTTP to the TLS port no answer', async () => {
    const plain = app.url.replace(/^https:/, 'http:').replace('/graphql', '/healthz');
    const outcome = await request(plain, { method: 'GET' }).then(
      (answer) => ({ answered: answer.status, body: answer.body }),
      (error: NodeJS.ErrnoException) => ({ failed: error.code ?? error.message }),
    );
    // Node's TLS server drops a connection that does not start with a TLS handshake.
    expect(outcome).toEqual({ failed: expect.stringMatching(/ECONNRESET|socket hang up|EPIPE/) });
  });

  it('speaks WSS: connection_init with the credential, then an operation over the socket', async () => {
    const wssUrl = app.url.replace(/^https:/, 'wss:');
    const outcome = await socketExchange(wssUrl, {
      ca: certificate.certPem,
      authorization: `Bearer ${app.apiKey}`,
      query: '{ me { tenant { id } } }',
    });
    expect(outcome.error).toBeUndefined();
    expect(outcome.messages).toEqual([
      expect.objectContaining({ type: 'connection_ack' }),
      { type: 'next', id: '1', payload: { data: { me: { tenant: { id: app.tenantId } } } } },
      { type: 'complete', id: '1' },
    ]);
    expect(outcome.closed?.code).toBe(1000);

    const refused = await socketExchange(wssUrl, { ca: certificate.certPem, authorization: 'Bearer rk_not_a_key' });
    expect(refused.opened).toBe(true);
    expect(refused.closed?.code).toBe(4403);
  });

  it('refuses WSS to a client that does not trust the certificate, and plain WS to the TLS port', async () => {
    const untrusted = await socketExchange(app.url.replace(/^https:/, 'wss:'), { authorization: `Bearer ${app.apiKey}` });
    expect(untrusted).toMatchObject({ opened: false, error: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    const plain = await socketExchange(app.url.replace(/^https:/, 'ws:'), { authorization: `Bearer ${app.apiKey}` });
    expect(plain.opened).toBe(false);
    expect(plain.messages).toEqual([]);
    expect(plain.error).toMatch(/ECONNRESET|socket hang up|EPIPE/);
  });

  it('keeps Apollo’s CSRF prevention on: a simple (text/plain) request is refused before any resolver', async () => {
    const answer = await request(app.url, {
      method: 'POST',
      ca: certificate.certPem,
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${app.apiKey}` },
      body: JSON.stringify({ query: '{ me { credentialId } }' }),
    });
    expect(answer.status).toBe(400);
    expect(answer.body).toContain('CSRF');
    const getWithoutPreflight = await request(`${app.url}?query=${encodeURIComponent('{ me { credentialId } }')}`, {
      method: 'GET',
      ca: certificate.certPem,
      headers: { authorization: `Bearer ${app.apiKey}` },
    });
    expect(getWithoutPreflight.status).toBe(400);
    expect(getWithoutPreflight.body).toContain('CSRF');
  });
});

describeEachDatabase('security headers over plain HTTP', (kind) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp(kind);
  });
  afterAll(async () => {
    await app?.close();
  });

  it('sends helmet’s headers but no HSTS, which only means something over HTTPS', async () => {
    expect(app.url).toMatch(/^http:\/\//);
    const answer = await request(app.url.replace('/graphql', '/healthz'), { method: 'GET' });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.headers['strict-transport-security']).toBeUndefined();
  });
});
