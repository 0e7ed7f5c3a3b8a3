import { Ajv2020 } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';

/**
 * Checks streamed events' `data` against the component schema the served OpenAPI document names for
 * them, so that the document's description of the stream cannot drift from what the stream sends.
 */
export async function streamDataValidator(origin: string): Promise<(schemaName: string, data: string) => string | null> {
  const document = (await (await fetch(`${origin}/v1/openapi.json`)).json()) as Record<string, unknown>;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(document, 'openapi');
  return (schemaName, data) => {
    const validate = ajv.getSchema(`openapi#/components/schemas/${schemaName}`);
    if (!validate) return `the document has no schema ${schemaName}`;
    return validate(JSON.parse(data)) ? null : ajv.errorsText(validate.errors);
  };
}
