import fs from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { buildGuardedSchema } from '../../src/server/permissions';
import { buildRestApi } from '../../src/server/rest/rest-openapi';

/**
 * schema/openapi.json is what CI lints and generates the REST client's types from, so it must be the
 * document the server serves; and every example the document shows (request bodies, responses,
 * problems, parameters, schemas' own) must be a value its schema accepts, or a reader who copies one
 * gets a 400, and a client generated from the document is tested against a lie. Redocly's lint
 * checks the media-type examples too; this test checks them all with the same ajv (2020-12, with
 * formats) the handlers validate bodies with.
 */

type Json = Record<string, unknown>;

const document = buildRestApi(buildGuardedSchema()).document as Json;
const committedFile = path.join(__dirname, '..', '..', 'schema', 'openapi.json');
const methods = ['get', 'post', 'patch', 'put', 'delete'];

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(document, 'openapi');

/** The value a JSON Pointer into the document names. */
function at(pointer: string): unknown {
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce<unknown>((value, part) => (value as Json)[part], document);
}

function pointerOf(parts: string[]): string {
  return parts.map((part) => `/${part.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** An example object's value, through its $ref when it has one. */
function exampleValueOf(example: Json): unknown {
  return typeof example.$ref === 'string' ? (at(example.$ref.slice(1)) as Json).value : example.value;
}

interface ExampleCase {
  where: string;
  schemaPointer: string;
  value: unknown;
}

/**
 * Every example in the document with the schema it must satisfy: a media type's or a parameter's
 * `example` and `examples`, and a schema's own `examples`.
 */
function examplesOf(value: unknown, parts: string[], cases: ExampleCase[]): ExampleCase[] {
  if (Array.isArray(value)) {
    value.forEach((item, index) => examplesOf(item, [...parts, String(index)], cases));
    return cases;
  }
  if (value === null || typeof value !== 'object') return cases;
  const object = value as Json;
  const where = pointerOf(parts);
  const parent = parts[parts.length - 2];
  const isMediaType = parent === 'content';
  const isParameter = typeof object.in === 'string' && typeof object.name === 'string';
  if ((isMediaType || isParameter) && object.schema) {
    const schemaPointer = pointerOf([...parts, 'schema']);
    if (object.example !== undefined) cases.push({ where, schemaPointer, value: object.example });
    for (const [name, example] of Object.entries((object.examples ?? {}) as Record<string, Json>)) {
      cases.push({ where: `${where} (${name})`, schemaPointer, value: exampleValueOf(example) });
    }
  }
  const inSchema = parts.includes('schema') || parts.includes('schemas');
  if (inSchema && Array.isArray(object.examples) && !isMediaType && !isParameter) {
    object.examples.forEach((example, index) => cases.push({ where: `${where}/examples/${index}`, schemaPointer: where, value: example }));
  }
  for (const [key, inner] of Object.entries(object)) {
    // A media type's named examples were taken above; components/examples are checked where used.
    if ((isMediaType || isParameter) && key === 'examples') continue;
    if (parts.length === 1 && parts[0] === 'components' && key === 'examples') continue;
    examplesOf(inner, [...parts, key], cases);
  }
  return cases;
}

interface OperationCase {
  id: string;
  operation: Json;
}

const operations: OperationCase[] = Object.values(document.paths as Record<string, Json>).flatMap((item) =>
  Object.entries(item)
    .filter(([method]) => methods.includes(method))
    .map(([, operation]) => ({ id: String((operation as Json).operationId), operation: operation as Json })),
);

describe('the OpenAPI document of /v1', () => {
  it('is the one committed as schema/openapi.json (run `npm run schema` after changing the REST interface)', () => {
    expect(fs.readFileSync(committedFile, 'utf8')).toBe(`${JSON.stringify(document, null, 2)}\n`);
  });

  it('is OpenAPI 3.1 with operations to describe', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(operations.length).toBeGreaterThan(50);
  });

  const cases = examplesOf(document, [], []);

  it('has examples to check: every operation’s response, every body, every error', () => {
    expect(cases.length).toBeGreaterThan(operations.length * 3);
  });

  it('every example validates against its schema', () => {
    const invalid: { where: string; errors: unknown }[] = [];
    for (const example of cases) {
      const validate = ajv.getSchema(`openapi#${example.schemaPointer}`);
      if (!validate) throw new Error(`No schema at ${example.schemaPointer}`);
      if (!validate(example.value)) invalid.push({ where: example.where, errors: validate.errors });
    }
    expect(invalid).toEqual([]);
  });

  describe.each(operations.map((operation) => [operation.id, operation] as const))('%s', (_id, { operation }) => {
    const responses = operation.responses as Record<string, Json>;

    it('says what it needs: a description, its scopes as a security requirement and as x-required-scopes', () => {
      expect(String(operation.description)).not.toBe('');
      const scopes = operation['x-required-scopes'] as string[];
      expect(operation.security).toEqual([{ bearer: scopes }]);
      for (const scope of scopes) expect(String(operation.description)).toContain(`\`${scope}\``);
    });

    it('shows an example of its success response, and of its body when it takes one', () => {
      const success = Object.entries(responses).find(([status]) => status.startsWith('2'));
      expect(success).toBeDefined();
      const content = (success?.[1].content ?? {}) as Record<string, Json>;
      for (const media of Object.values(content)) expect(media.example ?? media.examples).toBeDefined();
      const body = operation.requestBody as Json | undefined;
      if (body) expect((body.content as Record<string, Json>)['application/json'].example).toBeDefined();
    });

    it('documents its errors as problem details, each with an example, 401 and 403 among them', () => {
      const errors = Object.entries(responses).filter(([status]) => /^[45]/.test(status));
      expect(errors.map(([status]) => status)).toEqual(expect.arrayContaining(['400', '401', '403', '500']));
      for (const [, reference] of errors) {
        const response = (typeof reference.$ref === 'string' ? at(reference.$ref.slice(1)) : reference) as Json;
        const media = (response.content as Record<string, Json>)['application/problem+json'];
        expect(media).toBeDefined();
        expect(Object.keys(media.examples as Json).length).toBeGreaterThan(0);
      }
    });
  });
});
