import type { ValueTransformer } from 'typeorm';
import { toBigInt } from '../common/money';

/** BIGINT columns as bigint in TypeScript, whatever the driver returns. */
export const bigintTransformer: ValueTransformer = {
  to: (value: bigint | null | undefined) => (value === null || value === undefined ? value : value.toString()),
  from: (value: unknown) => (value === null || value === undefined ? value : toBigInt(value)),
};

/** JSON objects in a TEXT column: portable across MySQL and SQLite, and byte-exact on the way back. */
export const jsonTextTransformer: ValueTransformer = {
  to: (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value)),
  from: (value: unknown) => (typeof value === 'string' ? JSON.parse(value) : value ?? null),
};
