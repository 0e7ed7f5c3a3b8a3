import { Arg } from 'type-graphql';
import { validationError } from '../common/errors';

/**
 * Every mutation takes one `input:` object plus `idempotencyKey:` (and every list one `filter:`).
 * Fields that took loose arguments before keep them for one release, deprecated, so that clients can
 * move over; these are the two pieces every such field shares: the deprecated argument, and the
 * choice between the two forms.
 */

/**
 * A deprecated argument of the old form. GraphQL lets only a nullable argument be deprecated, and a
 * call in the new form leaves it out, so it is always nullable.
 */
export function DeprecatedArg(name: string, type: () => object, newForm: string): ReturnType<typeof Arg> {
  return Arg(name, type, { nullable: true, deprecationReason: `Use ${newForm}. This argument will be removed in the next release.` });
}

export interface ArgumentForms<TInput> {
  /** The mutation field, for messages. */
  field: string;
  /** How to call it now, e.g. `capturePayment(input: { paymentId, amount })`. */
  newForm: string;
  /** The input of the new form, or null/undefined when the call did not use it. */
  input: TInput | null | undefined;
  /** The deprecated arguments as the call gave them (null or undefined when left out). */
  deprecated: Record<string, unknown>;
  /** The deprecated arguments the old form cannot do without. */
  required: readonly string[];
  /** The new form's input, built from the deprecated arguments. */
  fromDeprecated(): TInput;
}

/**
 * The input a call asks for, whichever form it used: exactly one form must be given. The result is
 * what the mutation fingerprints for idempotency, so an old-form call and the same call in the new
 * form are the same request, and a client that changes form between two retries of one key gets the
 * first answer back instead of IDEMPOTENCY_KEY_REUSED. A value left out stays undefined and one given
 * as null stays null, in both forms alike.
 */
export function inputOfEitherForm<TInput>(forms: ArgumentForms<TInput>): TInput {
  const given = Object.keys(forms.deprecated).filter((name) => forms.deprecated[name] !== null && forms.deprecated[name] !== undefined);
  const hasInput = forms.input !== null && forms.input !== undefined;
  if (hasInput && given.length > 0) {
    throw validationError(
      `${forms.field}: give either input or the deprecated argument${given.length > 1 ? 's' : ''} ${given.join(', ')}, not both. Use ${forms.newForm}.`,
      { field: 'input', deprecatedArguments: given },
    );
  }
  if (hasInput) return forms.input as TInput;
  const missing = forms.required.filter((name) => !given.includes(name));
  if (missing.length > 0) {
    throw validationError(`${forms.field} takes its arguments in input. Use ${forms.newForm}.`, { field: 'input', ...(given.length > 0 ? { missing } : {}) });
  }
  return forms.fromDeprecated();
}
