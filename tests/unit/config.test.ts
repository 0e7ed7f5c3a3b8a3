import { loadConfig } from '../../src/config';

describe('loadConfig', () => {
  it('defaults to the embedded SQLite database on port 4000', () => {
    const config = loadConfig({});
    expect(config.databaseUrl).toBe('sqlite:./data/reckon.sqlite');
    expect(config.port).toBe(4000);
    expect(config.seedDemoTenant).toBe(true);
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DATABASE_URL: 'postgres://x' }, 'DATABASE_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ SEED_DEMO_TENANT: 'maybe' }, 'SEED_DEMO_TENANT'],
    [{ LEDGER_MAX_BATCH_SIZE: '0' }, 'LEDGER_MAX_BATCH_SIZE'],
  ])('refuses %j at start-up, naming the variable', (env, name) => {
    expect(() => loadConfig(env)).toThrow(name);
  });
});
