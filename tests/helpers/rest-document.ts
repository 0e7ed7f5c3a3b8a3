import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { Json } from './rest-client';

/**
 * The OpenAPI document as the tests read it: its operations, and validators of any schema in it by
 * its place (a JSON Pointer), compiled with the document itself so every `$ref` resolves.
 */
export interface DocumentOperation {
  method: string;
  /** The path as the document has it, with /v1: `/v1/payments/{paymentId}`. */
  path: string;
  operation: Json;
}

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

export function operationsOf(document: Json): DocumentOperation[] {
  const operations: DocumentOperation[] = [];
  for (const [path, item] of Object.entries<Json>(document.paths)) {
    for (const method of HTTP_METHODS) if (item[method]) operations.push({ method, path, operation: item[method] });
  }
  return operations;
}

export function keyOf(operation: Pick<DocumentOperation, 'method' | 'path'>): string {
  return `${operation.method.toUpperCase()} ${operation.path}`;
}

/** The path with its parameters filled in. */
export function pathWith(path: string, params: Record<string, string>): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    if (params[name] === undefined) throw new Error(`No value for the path parameter ${name} of ${path}`);
    return encodeURIComponent(params[name]);
  });
}

/** The document operation whose path template a concrete path (a Location) fits. */
export function operationAt(operations: DocumentOperation[], method: string, concretePath: string): DocumentOperation | undefined {
  const path = concretePath.split('?')[0];
  return operations.find((candidate) => {
    if (candidate.method !== method) return false;
    const pattern = new RegExp(`^${candidate.path.replace(/\{\w+\}/g, '[^/]+')}$`);
    return pattern.test(path);
  });
}

export class DocumentValidators {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(readonly document: Json) {
    addFormats(this.ajv);
    this.ajv.addSchema(document, 'openapi');
  }

  /** The validator of the schema at `pointer` (its segments, unescaped) in the document. */
  at(pointer: readonly string[]): ValidateFunction {
    const fragment = pointer.map((segment) => encodeURIComponent(segment.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/');
    let validate = this.compiled.get(fragment);
    if (!validate) {
      validate = this.ajv.compile({ $ref: `openapi#/${fragment}` });
      this.compiled.set(fragment, validate);
    }
    return validate;
  }

  /** The errors of `value` against the schema at `pointer`, as text, or null when it is valid. */
  errorsAt(pointer: readonly string[], value: unknown): string | null {
    const validate = this.at(pointer);
    if (validate(value)) return null;
    return this.ajv.errorsText(validate.errors, { separator: '; ', dataVar: 'body' });
  }

  problemErrors(value: unknown): string | null {
    return this.errorsAt(['components', 'schemas', 'Problem'], value);
  }
}

/**
 * The codes a declared error response names: its component's code (`#/components/responses/NOT_FOUND`),
 * or, for a response several codes share, the codes its description lists (`CODE: meaning`).
 */
export function codesOfResponse(document: Json, response: Json): string[] {
  if (typeof response?.$ref === 'string') return [response.$ref.split('/').pop() as string];
  const codes: string[] = document.components.schemas.ErrorCode.enum;
  return codes.filter((code) => new RegExp(`(^|\\n)${code}:`).test(String(response?.description ?? '')));
}
