import { AppError, ErrorCode } from '../../../common/errors';
import { echoOfInput } from '../../../common/echo';
import { type StatementFormat } from './statement-types';

/**
 * A statement file that cannot be read whole. `location` names the line ("line 14") or the element
 * ("Document/BkToCstmrStmt/Stmt[0]/Ntry[2]/Amt") at fault, so the sender can fix that spot; nothing of
 * the file is imported.
 */
export class StatementFormatError extends AppError {
  override name = 'StatementFormatError';

  constructor(
    readonly format: StatementFormat,
    readonly location: string,
    readonly reason: string,
  ) {
    super(ErrorCode.VALIDATION_FAILED, `The ${format} file was refused at ${location}: ${reason}. Fix the file and import it again; nothing was imported.`, {
      format,
      location,
      reason,
    });
  }
}

/** A value from the file as an error may quote it. */
export function quoted(value: string): string {
  return `"${echoOfInput(value)}"`;
}
