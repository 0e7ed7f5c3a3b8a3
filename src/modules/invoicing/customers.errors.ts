import { notFoundError, validationError } from '../../common/errors';

/** The customers' expected failures, each with its public code. Encrypted values are never echoed: errors reach logs. */
export const CustomerErrors = {
  customerNotFound: (id: string) => notFoundError('Customer', id),
  invalidName: (field: string) => validationError(`${field} must be 1 to 200 characters (spaces around it are trimmed)`, { field }),
  nameRequired: (field: string) => validationError(`${field} cannot be cleared: a customer always has a name`, { field }),
  invalidEmail: (field: string) => validationError(`${field} is not an email address (local@domain, at most 254 characters)`, { field }),
  invalidTaxId: (field: string) => validationError(`${field} must be 1 to 64 characters`, { field }),
  invalidCountry: (field: string) => validationError(`${field} must be an ISO 3166-1 alpha-2 country code, e.g. "DE" or "US"`, { field }),
  invalidAddressPart: (field: string, max: number) => validationError(`${field} must be 1 to ${max} characters`, { field, max }),
  nothingToChange: () => validationError('Give at least one field to change besides customerId', { field: 'input' }),
};
