import { AppError, ErrorCode, notFoundError, validationError } from '../../common/errors';

/** The webhooks module's expected failures, each with its public code. */
export const WebhookErrors = {
  endpointNotFound: (id: string) => notFoundError('Webhook endpoint', id),
  urlTaken: (existingId: string | undefined) =>
    new AppError(ErrorCode.ALREADY_EXISTS, 'An enabled webhook endpoint with this URL already exists', {
      field: 'url',
      ...(existingId ? { id: existingId } : {}),
    }),
  alreadyDisabled: (id: string) => new AppError(ErrorCode.INVALID_STATE_TRANSITION, `Webhook endpoint ${id} is already disabled`, { id }),
  tooManyEndpoints: (max: number) =>
    validationError(`A tenant may have at most ${max} enabled webhook endpoints; disable one first`, { field: 'url', max }),
  invalidUrl: (reason: string) => validationError(`url ${reason}`, { field: 'url' }),
  invalidEvents: (reason: string, allowed: readonly string[]) => validationError(`events ${reason}`, { field: 'events', allowed: [...allowed] }),
};
