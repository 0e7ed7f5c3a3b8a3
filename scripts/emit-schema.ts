/**
 * Writes the SDL that the code defines to schema/schema.graphql. CI runs it and fails when the
 * committed file differs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { buildReckonSchema } from '../src/server/graphql/schema';

const target = path.join(__dirname, '..', 'schema', 'schema.graphql');
const sdl = `${printSchema(lexicographicSortSchema(buildReckonSchema()))}\n`;
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.writeFileSync(target, sdl);
console.log(`wrote ${path.relative(process.cwd(), target)}`);
