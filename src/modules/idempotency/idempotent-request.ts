import {
  type FieldNode,
  getNamedType,
  type GraphQLEnumType,
  type GraphQLResolveInfo,
  type InlineFragmentNode,
  isEnumType,
  isLeafType,
  Kind,
  print,
  type SelectionSetNode,
  visit,
} from 'graphql';
import { AppError, ErrorCode, validationError } from '../../common/errors';
import type { MutationAudit } from '../audit/audit.types';
import type { Principal } from '../auth/auth.service';
import { fingerprintOf } from './fingerprint';
import { runUnkeyedMutation } from './unkeyed-mutation-audit';
import { ClaimTakenError, type IdempotencyHandle, type IdempotencyService, requireIdempotencyKey } from './idempotency.service';

/** Marks a value rebuilt from a stored response: nested fields read it instead of resolving. */
const REPLAYED = Symbol('idempotency.replayed');

export interface ReplayedValue {
  [REPLAYED]: Record<string, unknown>;
}

export function replayedDataOf(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' ? (value as Partial<ReplayedValue>)[REPLAYED] : undefined;
}

/** Wraps stored JSON so that the field's resolvers hand it back as it is, level by level. */
export function asReplayed(data: unknown): unknown {
  if (Array.isArray(data)) return data.map(asReplayed);
  if (data !== null && typeof data === 'object') return { [REPLAYED]: data as Record<string, unknown> };
  return data;
}

/**
 * A field middleware (graphql-middleware) for every field: under a replayed payload each field returns
 * the stored value for its response key, so a replay sends back the first response's data exactly and
 * runs no resolver. Elsewhere it only calls through, synchronously.
 */
export function replayStoredResponse(
  resolve: (root: unknown, args: unknown, context: unknown, info: GraphQLResolveInfo) => unknown,
  root: unknown,
  args: unknown,
  context: unknown,
  info: GraphQLResolveInfo,
): unknown {
  const stored = replayedDataOf(root);
  if (stored === undefined) return resolve(root, args, context, info);
  const value = stored[info.path.key as string];
  const type = getNamedType(info.returnType);
  if (isEnumType(type)) return enumValueOfStored(type, value);
  // A scalar goes back as stored, even an object (a JSON scalar such as metadata): wrapped, it would
  // serialise as {}.
  return isLeafType(type) ? value : asReplayed(value);
}

/**
 * A stored response holds an enum by its schema name (LEDGER_READ), and graphql-js serialises the
 * internal value ("ledger:read"), so the name is turned back into its value. A value stored before
 * the field became an enum (the wire string itself) is not a name and goes back as it is.
 */
function enumValueOfStored(type: GraphQLEnumType, stored: unknown): unknown {
  if (Array.isArray(stored)) return stored.map((item) => enumValueOfStored(type, item));
  if (typeof stored !== 'string') return stored;
  const value = type.getValue(stored);
  return value ? value.value : stored;
}

export interface IdempotentOperation<T> {
  /** Does the work; the service completes `handle` in the same transaction as its change. */
  execute(handle: IdempotencyHandle | null): Promise<T>;
  /** Rebuilds the payload from what the change produced, when no response was stored (a crash in between). */
  rebuild(resultRef: unknown): Promise<T>;
  /**
   * True when the operation's whole effect is one ledger-writer command (nothing done before its
   * transaction, nothing after): the claim is then inserted by that command's batch transaction, with
   * the change and its completion, instead of in a statement and commit of its own before. Never for
   * an operation that calls out (a gateway) or writes outside that transaction: only a claim taken
   * first keeps two copies of such a request from both doing the outside part.
   */
  claimWithChange?: boolean;
}

interface Pending {
  responseKey: string;
  handle: IdempotencyHandle;
}

/**
 * Idempotency for one GraphQL request, over HTTP or WebSocket. Mutation resolvers run through `run`;
 * when the response is ready, `finish` stores each field's data for byte-identical replays and tells
 * which fields were replayed (for `extensions.idempotency`).
 */
export class IdempotentRequest {
  private readonly completed: Pending[] = [];
  private readonly replayed: { key: string; responseKey: string }[] = [];
  /**
   * The audit event of each mutation field (by response key), set by the audit middleware before the
   * resolver runs: a new claim carries it to the transaction that completes it.
   */
  readonly audits = new Map<string, MutationAudit>();

  constructor(
    private readonly service: IdempotencyService,
    private readonly principal: Principal,
    /** The Idempotency-Key header, which applies to a document with a single mutation field. */
    private readonly headerKey: string | null,
  ) {}

  async run<T>(info: GraphQLResolveInfo, args: Record<string, unknown>, operation: IdempotentOperation<T>): Promise<T | unknown> {
    const key = this.keyFor(info, args.idempotencyKey);
    if (key === null) {
      const audit = this.audits.get(info.path.key as string);
      return audit ? runUnkeyedMutation(audit, () => operation.execute(null)) : operation.execute(null);
    }
    const scope = { tenantId: this.principal.tenantId, credentialId: this.principal.credentialId, operation: info.fieldName, key };
    const fingerprint = fingerprintOf(info.fieldName, args, selectionText(info));
    const audit = this.audits.get(info.path.key as string);
    if (operation.claimWithChange) {
      const handle = this.service.prepareClaim(scope, fingerprint);
      if (audit) handle.audit = audit;
      try {
        const result = await operation.execute(handle);
        this.completed.push({ responseKey: info.path.key as string, handle });
        return result;
      } catch (error) {
        // A failed batch took its claim with it: there is nothing to release. Two failures go the usual
        // way instead, whose claim replays, refuses or takes over: a key already taken, and bad input
        // (refused before any write), so that reusing a key with other arguments is IDEMPOTENCY_KEY_REUSED
        // whatever the new arguments are, as for every other mutation.
        if (!(error instanceof ClaimTakenError) && !(error instanceof AppError && error.code === ErrorCode.VALIDATION_FAILED)) throw error;
      }
    }
    const claim = await this.service.claim(scope, fingerprint);
    if (claim.kind === 'replay') {
      this.replayed.push({ key, responseKey: info.path.key as string });
      const { outcome } = claim;
      if (outcome.error) throw new AppError(outcome.error.code, outcome.error.message, outcome.error.details);
      if (outcome.responseJson !== null) return asReplayed(JSON.parse(outcome.responseJson));
      return operation.rebuild(outcome.resultRef);
    }
    if (audit) claim.handle.audit = audit;
    try {
      const result = await operation.execute(claim.handle);
      this.completed.push({ responseKey: info.path.key as string, handle: claim.handle });
      return result;
    } catch (error) {
      // Not decided (bad input, an outage): the key is free again. A refusal the service stored
      // with its decision is COMPLETED already, and release leaves it alone.
      await this.service.release(claim.handle).catch(() => undefined);
      throw error;
    }
  }

  private keyFor(info: GraphQLResolveInfo, argumentKey: unknown): string | null {
    if (typeof argumentKey === 'string') return requireIdempotencyKey(argumentKey);
    if (this.headerKey === null) return null;
    if (mutationFieldCount(info) > 1) {
      throw validationError('The Idempotency-Key header applies to one mutation field; give each field its own idempotencyKey argument', {
        field: 'Idempotency-Key',
      });
    }
    return requireIdempotencyKey(this.headerKey, 'Idempotency-Key');
  }

  /**
   * Called once the response exists: stores the data of each field that ran for the first time, and
   * returns the `idempotency` extension when a field was replayed.
   */
  async finish(data: Record<string, unknown> | null | undefined): Promise<Record<string, unknown> | undefined> {
    const completed = this.completed.splice(0);
    await Promise.all(
      completed.map(({ responseKey, handle }) =>
        data && data[responseKey] !== undefined && data[responseKey] !== null
          ? this.service.storeResponse(handle, JSON.stringify(data[responseKey])).catch(() => undefined)
          : undefined,
      ),
    );
    if (this.replayed.length === 0) return undefined;
    if (this.replayed.length === 1) return { key: this.replayed[0].key, replayed: true };
    return { replayed: true, fields: this.replayed.map(({ key, responseKey }) => ({ field: responseKey, key })) };
  }
}

/**
 * How many mutation fields the operation runs: one per response key, those inside fragments included
 * (they run as much as the others), `__typename` excluded (it changes nothing).
 */
function mutationFieldCount(info: GraphQLResolveInfo): number {
  const responseKeys = new Set<string>();
  const spread = new Set<string>();
  const collect = (selectionSet: SelectionSetNode): void => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        if (selection.name.value !== '__typename') responseKeys.add((selection.alias ?? selection.name).value);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        collect(selection.selectionSet);
      } else if (!spread.has(selection.name.value)) {
        spread.add(selection.name.value);
        const fragment = info.fragments[selection.name.value];
        if (fragment) collect(fragment.selectionSet);
      }
    }
  };
  collect(info.operation.selectionSet);
  return responseKeys.size;
}

/**
 * The field's selection set with fragments inlined, printed: a retry must ask for the same data to
 * get the same bytes back, whatever its fragments are named.
 */
function selectionText(info: GraphQLResolveInfo): string {
  const node = info.fieldNodes[0];
  if (!node.selectionSet) return '';
  // The server keeps parsed documents (and so their nodes) across requests, and a node's fragments are
  // those of its own document: the same node always prints the same. Printing showed in profiles.
  const cached = printedSelections.get(node);
  if (cached !== undefined) return cached;
  const inlined = visit(node.selectionSet, {
    FragmentSpread(spread): InlineFragmentNode | null {
      const fragment = info.fragments[spread.name.value];
      return fragment ? { kind: Kind.INLINE_FRAGMENT, typeCondition: fragment.typeCondition, selectionSet: fragment.selectionSet } : null;
    },
  });
  const printed = print(inlined as SelectionSetNode);
  printedSelections.set(node, printed);
  return printed;
}

const printedSelections = new WeakMap<FieldNode, string>();
