import { createDataSource } from '../../src/db/data-source';
import { describeOnMysql } from '../helpers/harness';

/**
 * DATABASE_URL's TLS parameters reach mysql2 (TypeORM alone would drop them). The MariaDB of the test
 * setup has no TLS, so a connection that requires it must fail on the handshake rather than quietly
 * go on in plain text; were TLS ever enabled there, the session must then be encrypted.
 */
describeOnMysql('MySQL TLS parameters in DATABASE_URL reach the driver', () => {
  const serverUrl = () => new URL(process.env.TEST_MYSQL_URL as string);

  async function connect(query: string): Promise<{ cipher: string } | { refused: string }> {
    const url = serverUrl();
    url.search = query;
    const { dataSource } = createDataSource({ url: url.toString(), poolSize: 1 });
    try {
      await dataSource.initialize();
    } catch (error) {
      return { refused: String((error as { code?: string }).code ?? (error as Error).message) };
    }
    try {
      const [row] = await dataSource.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'");
      return { cipher: String(row?.Value ?? '') };
    } finally {
      await dataSource.destroy();
    }
  }

  it('connects in plain text without TLS parameters, as before', async () => {
    expect(await connect('')).toEqual({ cipher: '' });
    expect(await connect('?ssl=false')).toEqual({ cipher: '' });
  });

  it.each(['?ssl-mode=REQUIRED', '?ssl=true', '?ssl=true&ssl-reject-unauthorized=false'])('%s never falls back to plain text', async (query) => {
    const outcome = await connect(query);
    if ('cipher' in outcome) expect(outcome.cipher).not.toBe('');
    else expect(outcome.refused).toBe('HANDSHAKE_NO_SSL_SUPPORT');
  });
});
