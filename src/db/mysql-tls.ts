import fs from 'node:fs';

/**
 * TLS for MySQL/MariaDB, from DATABASE_URL's query parameters. TypeORM reads only the user, password,
 * host, port and database from a URL and drops the query string, so the parameters are read here and
 * handed to mysql2 as its explicit `ssl` option.
 *
 * | parameter | meaning |
 * | --- | --- |
 * | `ssl=true` | TLS, the server's certificate checked against the CAs and the host name (VERIFY_IDENTITY) |
 * | `ssl-mode=DISABLED\|REQUIRED\|VERIFY_CA\|VERIFY_IDENTITY` | as MySQL's own clients mean them: REQUIRED encrypts without checking the certificate, unless `ssl-ca` is given (then VERIFY_CA); VERIFY_CA checks the chain, not the host name |
 * | `ssl-ca=/path.pem` | CA bundle to trust instead of Node's default CAs; turns TLS on |
 * | `ssl-cert=/path.pem`, `ssl-key=/path.pem` | client certificate and key, together; turn TLS on |
 * | `ssl-reject-unauthorized=false` | accept any certificate (encryption only) |
 *
 * Underscores work for dashes (`ssl_mode`). Without any of them the connection is plain, as before.
 * PREFERRED (MySQL's "TLS if the server offers it") is refused: mysql2 cannot fall back, and a silent
 * downgrade is what a TLS setting must never do. Any other parameter is refused rather than ignored.
 */
export interface MysqlTlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  rejectUnauthorized: boolean;
  verifyIdentity: boolean;
}

export type MysqlSslMode = 'DISABLED' | 'REQUIRED' | 'VERIFY_CA' | 'VERIFY_IDENTITY';

export interface MysqlUrlWithTls {
  /** The URL without its query string, for TypeORM. */
  url: string;
  /** mysql2's `ssl` option; undefined for a plain connection. */
  ssl: MysqlTlsOptions | undefined;
  /** The effective mode, for logs. */
  mode: MysqlSslMode;
}

const MODES: readonly MysqlSslMode[] = ['DISABLED', 'REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY'];
const PARAMETERS = ['ssl', 'ssl-mode', 'ssl-ca', 'ssl-cert', 'ssl-key', 'ssl-reject-unauthorized'] as const;
type Parameter = (typeof PARAMETERS)[number];

function fail(message: string): never {
  throw new Error(`DATABASE_URL: ${message}`);
}

function readFlag(name: string, value: string): boolean {
  if (['true', '1'].includes(value.toLowerCase())) return true;
  if (['false', '0'].includes(value.toLowerCase())) return false;
  return fail(`${name} must be true or false, got "${value}"`);
}

/** Splits off the query string: the first "?" after the credentials, whatever the path holds. */
function splitQuery(url: string): { base: string; query: string } {
  const authorityStart = url.indexOf('//') + 2;
  const at = url.indexOf('@', authorityStart);
  const question = url.indexOf('?', at === -1 ? authorityStart : at);
  return question === -1 ? { base: url, query: '' } : { base: url.slice(0, question), query: url.slice(question + 1) };
}

export function mysqlUrlWithTls(url: string, readFile: (path: string) => string = (path) => fs.readFileSync(path, 'utf8')): MysqlUrlWithTls {
  const { base, query } = splitQuery(url);
  const given = new Map<Parameter, string>();
  for (const [rawName, value] of new URLSearchParams(query)) {
    const name = rawName.toLowerCase().replace(/_/g, '-');
    if (!(PARAMETERS as readonly string[]).includes(name)) {
      fail(`unsupported parameter "${rawName}"; supported: ${PARAMETERS.join(', ')}`);
    }
    if (given.has(name as Parameter)) fail(`parameter "${name}" is given twice`);
    given.set(name as Parameter, value);
  }

  const file = (name: 'ssl-ca' | 'ssl-cert' | 'ssl-key'): string | undefined => {
    const path = given.get(name);
    if (path === undefined) return undefined;
    if (path === '') fail(`${name} needs a file path`);
    try {
      return readFile(path);
    } catch (error) {
      return fail(`cannot read ${name} file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };

  const sslFlag = given.has('ssl') ? readFlag('ssl', given.get('ssl') as string) : undefined;
  let mode: MysqlSslMode | undefined;
  if (given.has('ssl-mode')) {
    const value = (given.get('ssl-mode') as string).toUpperCase();
    if (value === 'PREFERRED') fail('ssl-mode=PREFERRED is not supported (it may silently fall back to plain text); use REQUIRED, VERIFY_CA or VERIFY_IDENTITY');
    if (!(MODES as readonly string[]).includes(value)) fail(`ssl-mode must be one of ${MODES.join(', ')}, got "${given.get('ssl-mode')}"`);
    mode = value as MysqlSslMode;
    if (sslFlag !== undefined && sslFlag !== (mode !== 'DISABLED')) fail(`ssl=${given.get('ssl')} contradicts ssl-mode=${mode}`);
  } else if (sslFlag !== undefined) {
    mode = sslFlag ? 'VERIFY_IDENTITY' : 'DISABLED';
  }
  const hasFiles = given.has('ssl-ca') || given.has('ssl-cert') || given.has('ssl-key');
  const hasRejectFlag = given.has('ssl-reject-unauthorized');
  if (mode === undefined) mode = hasFiles || hasRejectFlag ? 'VERIFY_IDENTITY' : 'DISABLED';
  if (mode === 'DISABLED') {
    if (hasFiles || hasRejectFlag) fail('TLS parameters are given but TLS is disabled (ssl=false or ssl-mode=DISABLED)');
    return { url: base, ssl: undefined, mode };
  }
  if (given.has('ssl-cert') !== given.has('ssl-key')) fail('ssl-cert and ssl-key are given together or not at all');
  // MySQL's clients verify the chain under REQUIRED as soon as a CA is named; so do we.
  if (mode === 'REQUIRED' && given.has('ssl-ca')) mode = 'VERIFY_CA';
  let rejectUnauthorized = mode !== 'REQUIRED';
  if (hasRejectFlag) {
    rejectUnauthorized = readFlag('ssl-reject-unauthorized', given.get('ssl-reject-unauthorized') as string);
    const namedMode = given.get('ssl-mode')?.toUpperCase();
    if (!rejectUnauthorized && namedMode !== undefined && namedMode !== 'REQUIRED') {
      fail(`ssl-reject-unauthorized=false contradicts ssl-mode=${namedMode}`);
    }
    if (!rejectUnauthorized) mode = 'REQUIRED';
    else if (mode === 'REQUIRED') mode = 'VERIFY_CA';
  }
  const ssl: MysqlTlsOptions = { rejectUnauthorized, verifyIdentity: mode === 'VERIFY_IDENTITY' };
  const ca = file('ssl-ca');
  const cert = file('ssl-cert');
  const key = file('ssl-key');
  if (ca !== undefined) ssl.ca = ca;
  if (cert !== undefined) ssl.cert = cert;
  if (key !== undefined) ssl.key = key;
  return { url: base, ssl, mode };
}
