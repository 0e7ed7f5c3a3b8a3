import { Arg } from 'type-graphql';

/**
 * The `idempotencyKey` argument every mutation that creates a record or moves money takes. One
 * decorator, so the argument reads the same in every mutation's signature and documentation.
 */
export function IdempotencyKeyArg(): ReturnType<typeof Arg> {
  return Arg('idempotencyKey', () => String, {
    nullable: true,
    description:
      'Makes retries safe: the same key with the same arguments returns the first result again (extensions.idempotency.replayed = true). 8 to 255 printable characters; kept 24 hours.',
  });
}
