/**
 * Writes README.md's error-code table (between the error-codes markers) from src/common/errors.ts,
 * the same source as the schema's ErrorCode enum. CI runs it with `npm run schema` and fails when the
 * committed README differs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { errorCodeCatalog } from '../src/common/errors';

const START = '<!-- error-codes:start -->';
const END = '<!-- error-codes:end -->';

const readme = path.join(__dirname, '..', 'README.md');
const text = fs.readFileSync(readme, 'utf8');
const start = text.indexOf(START);
const end = text.indexOf(END);
if (start < 0 || end < start) {
  console.error(`README.md needs the markers ${START} and ${END} around the error-code table`);
  process.exit(1);
}

const cell = (value: string) => value.replace(/\|/g, '\\|');
const rows = errorCodeCatalog().map(
  (info) => `| \`${info.code}\` | ${info.httpStatus} | ${info.retryable ? 'yes' : 'no'} | ${cell(info.meaning)} |`,
);
const table = [
  '<!-- Generated from src/common/errors.ts by `npm run schema`; edit the meanings there. -->',
  '| code | HTTP status | retryable | meaning |',
  '| --- | --- | --- | --- |',
  ...rows,
].join('\n');

const updated = `${text.slice(0, start + START.length)}\n${table}\n${text.slice(end)}`;
if (updated !== text) fs.writeFileSync(readme, updated);
console.log(`wrote the error-code table of ${path.relative(process.cwd(), readme)}`);
