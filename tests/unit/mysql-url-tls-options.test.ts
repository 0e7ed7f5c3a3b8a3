import { createDataSource } from '../../src/db/data-source';
import { mysqlUrlWithTls } from '../../src/db/mysql-tls';

const files: Record<string, string> = {
  '/etc/ca.pem': 'CA PEM',
  '/etc/client.pem': 'CLIENT CERT PEM',
  '/etc/client-key.pem': 'CLIENT KEY PEM',
};
function readFile(path: string): string {
  if (!(path in files)) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return files[path];
}
const BASE = 'mysql://app:p%40ss@db.internal:3306/reckon';
const parse = (query: string) => mysqlUrlWithTls(`${BASE}${query}`, readFile);

describe('DATABASE_URL TLS parameters for MySQL', () => {
  it('leaves a URL without parameters plain, as before', () => {
    expect(parse('')).toEqual({ url: BASE, ssl: undefined, mode: 'DISABLED' });
  });

  it.each([
    ['?ssl=true', 'VERIFY_IDENTITY', { rejectUnauthorized: true, verifyIdentity: true }],
    ['?ssl=1', 'VERIFY_IDENTITY', { rejectUnauthorized: true, verifyIdentity: true }],
    ['?ssl-mode=VERIFY_IDENTITY', 'VERIFY_IDENTITY', { rejectUnauthorized: true, verifyIdentity: true }],
    ['?ssl-mode=verify_ca', 'VERIFY_CA', { rejectUnauthorized: true, verifyIdentity: false }],
    ['?ssl-mode=REQUIRED', 'REQUIRED', { rejectUnauthorized: false, verifyIdentity: false }],
    ['?ssl_mode=REQUIRED', 'REQUIRED', { rejectUnauthorized: false, verifyIdentity: false }],
    ['?ssl-mode=REQUIRED&ssl-ca=/etc/ca.pem', 'VERIFY_CA', { rejectUnauthorized: true, verifyIdentity: false, ca: 'CA PEM' }],
    ['?ssl-ca=/etc/ca.pem', 'VERIFY_IDENTITY', { rejectUnauthorized: true, verifyIdentity: true, ca: 'CA PEM' }],
    ['?ssl=true&ssl-reject-unauthorized=false', 'REQUIRED', { rejectUnauthorized: false, verifyIdentity: false }],
    ['?ssl-mode=REQUIRED&ssl-reject-unauthorized=true', 'VERIFY_CA', { rejectUnauthorized: true, verifyIdentity: false }],
    [
      '?ssl-mode=VERIFY_IDENTITY&ssl-ca=/etc/ca.pem&ssl-cert=/etc/client.pem&ssl-key=/etc/client-key.pem',
      'VERIFY_IDENTITY',
      { rejectUnauthorized: true, verifyIdentity: true, ca: 'CA PEM', cert: 'CLIENT CERT PEM', key: 'CLIENT KEY PEM' },
    ],
  ])('%s → %s', (query, mode, ssl) => {
    expect(parse(query)).toEqual({ url: BASE, ssl, mode });
  });

  it.each(['?ssl=false', '?ssl-mode=DISABLED', '?ssl=0&ssl-mode=disabled'])('%s is a plain connection', (query) => {
    expect(parse(query)).toEqual({ url: BASE, ssl: undefined, mode: 'DISABLED' });
  });

  it('strips the query string from the URL TypeORM sees, even without a database path', () => {
    expect(mysqlUrlWithTls('mysql://root@127.0.0.1:3306?ssl=true', readFile).url).toBe('mysql://root@127.0.0.1:3306');
    expect(mysqlUrlWithTls('mysql://u:a%3Fb@h/db?ssl-mode=REQUIRED', readFile).url).toBe('mysql://u:a%3Fb@h/db');
  });

  it.each([
    ['?ssl-mode=PREFERRED', 'PREFERRED is not supported'],
    ['?ssl-mode=SOMETIMES', 'ssl-mode must be one of'],
    ['?ssl=maybe', 'ssl must be true or false'],
    ['?ssl=false&ssl-mode=REQUIRED', 'contradicts'],
    ['?ssl=true&ssl-mode=DISABLED', 'contradicts'],
    ['?ssl-mode=VERIFY_CA&ssl-reject-unauthorized=false', 'contradicts'],
    ['?ssl=false&ssl-ca=/etc/ca.pem', 'TLS is disabled'],
    ['?ssl=true&ssl-cert=/etc/client.pem', 'together'],
    ['?ssl-ca=/etc/missing.pem', 'cannot read ssl-ca file /etc/missing.pem: ENOENT'],
    ['?ssl-ca=', 'needs a file path'],
    ['?ssl=true&ssl=false', 'twice'],
    ['?charset=latin1', 'unsupported parameter "charset"'],
  ])('refuses %s', (query, message) => {
    expect(() => parse(query)).toThrow(message);
  });

  it('names DATABASE_URL in its errors, never the password', () => {
    const error = (() => {
      try {
        parse('?ssl-ca=/etc/missing.pem');
      } catch (e) {
        return e as Error;
      }
      return new Error('none');
    })();
    expect(error.message).toMatch(/^DATABASE_URL: /);
    expect(error.message).not.toContain('p%40ss');
  });
});

describe('createDataSource', () => {
  it('hands the TLS options to the driver explicitly and TypeORM a URL without the query string', () => {
    const { dataSource } = createDataSource({ url: 'mariadb://app@db.internal:3306/reckon?ssl=true&ssl-reject-unauthorized=false' });
    expect(dataSource.options).toMatchObject({
      type: 'mysql',
      url: 'mysql://app@db.internal:3306/reckon',
      ssl: { rejectUnauthorized: false, verifyIdentity: false },
    });
    expect('ssl' in createDataSource({ url: 'mysql://app@db.internal:3306/reckon' }).dataSource.options).toBe(false);
  });
});
