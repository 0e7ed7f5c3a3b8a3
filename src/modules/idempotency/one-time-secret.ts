import { AppError, ErrorCode } from '../../common/errors';

/**
 * The replay of a keyed mutation whose answer held a one-time secret (an API key, an OAuth client
 * secret, a webhook signing secret), when the first response was not stored: the process died
 * between the commit, which recorded the object's id with the change, and storing the encrypted
 * response. A replay normally rebuilds its payload from that id, but the secret is kept only as a
 * hash (or encrypted for Reckon's own use) and is never shown twice, so the payload cannot be
 * rebuilt. The object exists and nothing is created again; the caller is told which one it is, and
 * that it should revoke (or disable) it and create another.
 */
export function oneTimeSecretNotReplayable(what: string, id: string, remedy: string): AppError {
  return new AppError(
    ErrorCode.ALREADY_EXISTS,
    `This idempotency key already created ${what} ${id}, but its one-time secret cannot be shown again ` +
      `(the first response was not stored). ${remedy}`,
    { id, secretShownOnce: true },
  );
}
