import type { EntityManager } from 'typeorm';

/**
 * Runs an UPDATE or DELETE and returns how many rows it changed, on every driver. (EntityManager.query
 * returns the driver's raw result, which for better-sqlite3 is the last insert row id, not a count.)
 */
export async function executeCountingRows(manager: EntityManager, sql: string, parameters: unknown[]): Promise<number> {
  const queryRunner = manager.queryRunner ?? manager.connection.createQueryRunner();
  try {
    const result = await queryRunner.query(sql, parameters, true);
    return Number(result.affected ?? 0);
  } finally {
    if (!manager.queryRunner) await queryRunner.release();
  }
}
