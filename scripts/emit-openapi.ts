/**
 * Writes the REST interface's OpenAPI document, as GET /v1/openapi.json serves it, to
 * schema/openapi.json. CI runs it, lints the file and generates the REST client's types from it, and
 * fails when the committed file differs: the document is built from the same schemas the handlers
 * validate with, so a change to the REST interface shows in review as a change to this file.
 */
import fs from 'node:fs';
import path from 'node:path';
import { buildGuardedSchema } from '../src/server/permissions';
import { buildRestApi } from '../src/server/rest/rest-openapi';

const target = path.join(__dirname, '..', 'schema', 'openapi.json');
fs.mkdirSync(path.dirname(target), { recursive: true });
fs.writeFileSync(target, `${JSON.stringify(buildRestApi(buildGuardedSchema()).document, null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), target)}`);
