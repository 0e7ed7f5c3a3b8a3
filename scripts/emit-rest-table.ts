/**
 * Writes README.md's table of REST operations (between the rest-operations markers) from the OpenAPI
 * document GET /v1/openapi.json serves, built the same way from the same schema, so the table lists
 * exactly the operations, summaries and scopes the server has. CI runs it with `npm run schema` and
 * fails when the committed README differs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildGuardedSchema } from '../src/server/permissions';
import { buildRestApi } from '../src/server/rest/rest-openapi';
import { REST_OPERATIONS } from '../src/server/rest/rest-operations';

const START = '<!-- rest-operations:start -->';
const END = '<!-- rest-operations:end -->';

interface DocumentOperation {
  operationId: string;
  summary: string;
  tags?: string[];
  'x-required-scopes'?: string[];
}

const readme = path.join(__dirname, '..', 'README.md');
const text = fs.readFileSync(readme, 'utf8');
const start = text.indexOf(START);
const end = text.indexOf(END);
if (start < 0 || end < start) {
  console.error(`README.md needs the markers ${START} and ${END} around the REST operations table`);
  process.exit(1);
}

const { document } = buildRestApi(buildGuardedSchema());
const paths = document.paths as Record<string, Record<string, DocumentOperation>>;
const rows = Object.entries(paths).flatMap(([route, methods]) =>
  Object.entries(methods).map(([method, operation]) => ({ route, method: method.toUpperCase(), operation, tag: operation.tags?.[0] ?? '' })),
);
// Grouped by resource, in the order the document first names each; within one, in the document's order.
const tagOrder = [...new Set(rows.map((row) => row.tag))];
rows.sort((a, b) => tagOrder.indexOf(a.tag) - tagOrder.indexOf(b.tag));

const cell = (value: string) => value.replace(/\|/g, '\\|');
/**
 * The GraphQL field an operation runs, from the table the document is built from (the document says
 * it in prose only); an operation of the document outside that table (a file, a stream) runs none.
 */
function graphqlOf(operationId: string): string {
  const operation = REST_OPERATIONS.find((candidate) => candidate.operationId === operationId);
  if (!operation) return '—';
  if (operation.as) return `\`node\` (\`${operation.as}\` ids)`;
  return operation.through ? `\`${operation.field}\` → \`${operation.through}\`` : `\`${operation.field}\``;
}
const lines = rows.map(({ route, method, operation, tag }, index) => {
  const scopes = operation['x-required-scopes'] ?? [];
  const resource = index === 0 || rows[index - 1].tag !== tag ? tag : '';
  const scope = scopes.length ? scopes.map((name) => `\`${name}\``).join(' and ') : 'any credential';
  return `| ${cell(resource)} | \`${method} ${route}\` | ${cell(operation.summary)} | ${scope} | ${graphqlOf(operation.operationId)} |`;
});
const table = [
  '<!-- Generated from src/server/rest/rest-operations.ts and the schema by `npm run schema`; edit the operations there. -->',
  '| resource | operation | what it does | scope | GraphQL field |',
  '| --- | --- | --- | --- | --- |',
  ...lines,
].join('\n');

const updated = `${text.slice(0, start + START.length)}\n${table}\n${text.slice(end)}`;
if (updated !== text) fs.writeFileSync(readme, updated);
console.log(`wrote the REST operations table of ${path.relative(process.cwd(), readme)}`);
