import { AppError, ErrorCode, validationError } from '../../common/errors';
import { echoOfInput } from '../../common/echo';

/** What a credential may do. Restricted keys and OAuth clients carry a subset. */
export enum Scope {
  LEDGER_READ = 'ledger:read',
  LEDGER_WRITE = 'ledger:write',
  PAYMENTS_READ = 'payments:read',
  PAYMENTS_WRITE = 'payments:write',
  INVOICES_READ = 'invoices:read',
  INVOICES_WRITE = 'invoices:write',
  RECONCILIATION_READ = 'reconciliation:read',
  RECONCILIATION_WRITE = 'reconciliation:write',
  AUDIT_READ = 'audit:read',
  /** Everything, including managing credentials and webhook endpoints. */
  ADMIN = 'admin',
}

export const ALL_SCOPES: readonly Scope[] = Object.values(Scope);

/**
 * Whether granted scopes allow a required one: `admin` allows everything, and `<area>:write` also
 * allows `<area>:read` (whoever may change something may see it).
 */
export function allowsScope(granted: ReadonlySet<string>, required: Scope): boolean {
  if (granted.has(Scope.ADMIN) || granted.has(required)) return true;
  return required.endsWith(':read') && granted.has(required.replace(/:read$/, ':write'));
}

/**
 * The refusal for a missing scope, the same from a shield rule and from a subscription's own check
 * (shield does not guard the subscribe step): FORBIDDEN, naming the scope for RFC 6750's challenge.
 */
export function insufficientScopeError(scope: Scope): AppError {
  return new AppError(ErrorCode.FORBIDDEN, `This credential lacks the "${scope}" scope`, { requiredScope: scope });
}

/** Parses a space- or list-given set of scopes, refusing unknown ones; empty means none. */
export function parseScopes(scopes: readonly string[] | string, field = 'scopes'): Scope[] {
  const list = typeof scopes === 'string' ? scopes.split(' ').filter(Boolean) : [...scopes];
  const unknown = list.filter((scope) => !ALL_SCOPES.includes(scope as Scope)).slice(0, 5).map(echoOfInput);
  if (unknown.length) {
    throw validationError(`${field}: unknown scope ${unknown.map((s) => `"${s}"`).join(', ')}; known: ${ALL_SCOPES.join(', ')}`, {
      field,
      unknown,
    });
  }
  return [...new Set(list as Scope[])].sort();
}
