import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, ID, Info, Mutation, Query, Resolver, Root } from 'type-graphql';
import { ROOT_PAGE_SIZES } from '../../common/pagination';
import type { RequestContext } from '../../graphql/context';
import { listPageSizes, Money, PageArgs, toConnection, toMoney } from '../../graphql/common.objects';
import { BigIntScalar } from '../../graphql/scalars';
import { IdempotencyKeyArg } from '../idempotency/idempotency-key.arg';
import { oneTimeSecretNotReplayable } from '../idempotency/one-time-secret';
import { Account } from '../ledger/ledger.objects';
import { toCsvMapping } from './csv-mapping';
import {
  BankAccountFilterInput,
  ContentEncoding,
  CreateBankAccountInput,
  ImportBankStatementInput,
  ReconciliationFlagFilterInput,
  RollBankAccountNotificationSecretInput,
  UpdateBankAccountMatchingSettingsInput,
} from './reconciliation.inputs';
import {
  BankAccount,
  BankAccountConnection,
  BankAccountPayload,
  BankStatement,
  ImportBankStatementPayload,
  ReconciliationFlag,
  ReconciliationFlagConnection,
  BankStatementLine,
  BankStatementLineConnection,
} from './reconciliation.objects';
import { ReconciliationErrors } from './reconciliation.errors';
import type { ImportResult, ImportResultRef } from './reconciliation.service';
import { type BankAccountRecord, type BankStatementRecord, type ReconciliationFlagRecord, type StatementLineRecord, StatementSource } from './reconciliation.types';

const STATEMENT_LINE_PAGE_SIZES = listPageSizes('BankStatement.lines', ROOT_PAGE_SIZES);

async function loadBankAccount(ctx: RequestContext, id: string): Promise<BankAccountRecord> {
  const account = await ctx.loaders.reconciliation.bankAccountById.load(id);
  if (!account) throw ReconciliationErrors.bankAccountNotFound(id);
  return account;
}

/** The file as the importer takes it: the string, or the bytes base64 carried. */
export function contentOf(content: string, encoding: ContentEncoding | null | undefined): Buffer | string {
  if (encoding !== ContentEncoding.BASE64) return content;
  const compact = content.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) throw ReconciliationErrors.invalidBase64();
  return Buffer.from(compact, 'base64');
}

function toPayload(result: ImportResult): ImportBankStatementPayload {
  return {
    statements: result.statements as unknown as BankStatement[],
    importedLineCount: result.importedLineCount,
    duplicateLineCount: result.duplicateLineCount,
    confirmedLineCount: result.confirmedLineCount,
    otherAccountStatementCount: result.otherAccountStatementCount,
    flags: result.flags as unknown as ReconciliationFlag[],
  };
}

@Resolver(() => BankAccount)
export class BankAccountResolver {
  @Query(() => BankAccount, { nullable: true, description: 'One bank account of the caller’s tenant; NOT_FOUND otherwise.' })
  bankAccount(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<BankAccountRecord> {
    return ctx.services.reconciliation.getBankAccount(ctx.principal.tenantId, id);
  }

  @Query(() => BankAccountConnection, { nullable: true, description: 'The tenant’s bank accounts, oldest first.' })
  async bankAccounts(
    @Args() page: PageArgs,
    @Arg('filter', () => BankAccountFilterInput, { nullable: true }) filter: BankAccountFilterInput | null,
    @Ctx() ctx: RequestContext,
  ) {
    const { tenantId } = ctx.principal;
    const result = await ctx.services.reconciliation.listBankAccounts(tenantId, filter ?? {}, page);
    return toConnection(result, (a) => a.id, (a) => a, () => ctx.services.reconciliation.countBankAccounts(tenantId, filter ?? {}));
  }

  @Mutation(() => BankAccountPayload, {
    nullable: true,
    description:
      'Adds a bank account mirrored by an ASSET ledger account in its currency. The IBAN is verified, stored encrypted and shown only as last4. The payload holds the secret that signs the account’s real-time notifications, shown once.',
  })
  createBankAccount(
    @Arg('input') input: CreateBankAccountInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: (handle) => ctx.services.reconciliation.createBankAccount(ctx.principal.tenantId, input, handle ?? undefined),
      // The notification secret is shown once: a replay gives it back only from the stored (encrypted) response.
      rebuild: (ref) => {
        throw oneTimeSecretNotReplayable('bank account', (ref as { bankAccountId: string }).bankAccountId, 'Roll its notification secret (rollBankAccountNotificationSecret).');
      },
    });
  }

  @Mutation(() => BankAccountPayload, {
    nullable: true,
    description:
      'Replaces the secret that signs the bank account’s real-time notifications (POST /bank-accounts/{id}/notifications). The old secret stops working at once; the new one is in the payload, shown once.',
  })
  rollBankAccountNotificationSecret(
    @Arg('input') input: RollBankAccountNotificationSecretInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: (handle) => ctx.services.reconciliation.rollNotificationSecret(ctx.principal.tenantId, input.bankAccountId, handle ?? undefined),
      rebuild: (ref) => {
        throw oneTimeSecretNotReplayable('a notification secret for bank account', (ref as { bankAccountId: string }).bankAccountId, 'Roll it again.');
      },
    });
  }

  @FieldResolver(() => BankStatementLineConnection, {
    description:
      'The lines real-time notifications stored in this bank account, oldest first. confirmed: false keeps those no statement has held yet (notified, never stated: ask the bank); true those a statement confirmed; absent, all.',
  })
  async notificationLines(
    @Root() account: BankAccountRecord,
    @Args() page: PageArgs,
    @Arg('confirmed', () => Boolean, { nullable: true }) confirmed: boolean | null,
    @Ctx() ctx: RequestContext,
  ) {
    const { tenantId } = ctx.principal;
    const result = await ctx.services.reconciliation.listNotificationLines(tenantId, account.id, confirmed ?? null, page);
    return toConnection(result, (line) => line.id, (line) => line, () => ctx.services.reconciliation.countNotificationLines(tenantId, account.id, confirmed ?? null));
  }

  @Mutation(() => BankAccountPayload, {
    nullable: true,
    description:
      'Changes which matching rules run for a bank account, in what order, its window and group limits; what the input leaves out stays. Runs from now on (imports, new postings, the sweep) use them; matches made before stand. VALIDATION_FAILED (naming the setting) changes nothing; another tenant’s account is NOT_FOUND.',
  })
  updateBankAccountMatchingSettings(
    @Arg('input') input: UpdateBankAccountMatchingSettingsInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) => ({
        bankAccount: await ctx.services.reconciliation.updateBankAccountMatchingSettings(ctx.principal.tenantId, input, handle ?? undefined),
      }),
      rebuild: async (ref) => ({ bankAccount: await loadBankAccount(ctx, (ref as { bankAccountId: string }).bankAccountId) }),
    });
  }

  @FieldResolver(() => Account, { description: 'The cash-at-bank ledger account it mirrors.' })
  async ledgerAccount(@Root() account: BankAccountRecord, @Ctx() ctx: RequestContext) {
    const ledgerAccount = await ctx.loaders.ledger.accountById.load(account.ledgerAccountId);
    if (!ledgerAccount) throw ReconciliationErrors.ledgerAccountNotFound(account.ledgerAccountId);
    return ledgerAccount;
  }
}

@Resolver(() => BankStatement)
export class BankStatementResolver {
  @Query(() => BankStatement, { nullable: true, description: 'One imported statement; NOT_FOUND otherwise.' })
  bankStatement(@Arg('id', () => ID) id: string, @Ctx() ctx: RequestContext): Promise<BankStatementRecord> {
    return ctx.services.reconciliation.getStatement(ctx.principal.tenantId, id);
  }

  @Mutation(() => ImportBankStatementPayload, {
    nullable: true,
    description:
      'Imports a statement file (camt.052/053/054, OFX, MT940, or CSV with csvMapping) into a bank account. A malformed file, or one for another account, is refused whole (VALIDATION_FAILED naming the place at fault) and nothing is stored. Lines already imported are skipped and counted; a statement that does not add up raises STATEMENT_BALANCE_MISMATCH.',
  })
  importBankStatement(
    @Arg('input') input: ImportBankStatementInput,
    @IdempotencyKeyArg() idempotencyKey: string | null,
    @Ctx() ctx: RequestContext,
    @Info() info: GraphQLResolveInfo,
  ) {
    return ctx.idempotency.run(info, { input, idempotencyKey }, {
      execute: async (handle) =>
        toPayload(
          await ctx.services.reconciliation.importStatement(
            ctx.principal.tenantId,
            {
              bankAccountId: input.bankAccountId,
              format: input.format,
              content: contentOf(input.content, input.contentEncoding),
              csvMapping: input.csvMapping ? toCsvMapping(input.csvMapping) : null,
            },
            handle ?? undefined,
          ),
        ),
      rebuild: async (ref) => toPayload(await ctx.services.reconciliation.importResultOf(ctx.principal.tenantId, ref as ImportResultRef)),
    });
  }

  @FieldResolver(() => String, { nullable: true, description: 'The bank’s id of the statement (camt Stmt/Id, MT940 :20:/:28C:).' })
  statementReference(@Root() statement: BankStatementRecord): string | null {
    return statement.statementRef;
  }

  @FieldResolver(() => BankAccount)
  bankAccount(@Root() statement: BankStatementRecord, @Ctx() ctx: RequestContext): Promise<BankAccountRecord> {
    return loadBankAccount(ctx, statement.bankAccountId);
  }

  @FieldResolver(() => Money, { nullable: true, description: 'The opening balance the statement states (camt OPBD/PRCD, MT940 60F/60M).' })
  openingBalance(@Root() statement: BankStatementRecord): Money | null {
    return statement.openingBalanceMinor === null ? null : toMoney(statement.openingBalanceMinor, statement.currency);
  }

  @FieldResolver(() => Money, { nullable: true, description: 'The closing balance the statement states (camt CLBD, MT940 62F/62M, OFX LEDGERBAL).' })
  closingBalance(@Root() statement: BankStatementRecord): Money | null {
    return statement.closingBalanceMinor === null ? null : toMoney(statement.closingBalanceMinor, statement.currency);
  }

  @FieldResolver(() => BankStatementLineConnection, { description: 'The lines this statement stored (not those an earlier import had stored), in file order.' })
  async lines(@Root() statement: BankStatementRecord, @Args() page: PageArgs, @Ctx() ctx: RequestContext) {
    const { tenantId } = ctx.principal;
    const result = await ctx.services.reconciliation.listLines(tenantId, statement.id, page, STATEMENT_LINE_PAGE_SIZES);
    return toConnection(result, (line) => line.id, (line) => line, () => ctx.services.reconciliation.countLines(tenantId, statement.id));
  }
}

@Resolver(() => BankStatementLine)
export class BankStatementLineResolver {
  @FieldResolver(() => Money, { description: 'Signed: money in positive, money out negative.' })
  amount(@Root() line: StatementLineRecord): Money {
    return toMoney(line.amountMinor, line.currency);
  }

  @FieldResolver(() => BankStatement)
  async statement(@Root() line: StatementLineRecord, @Ctx() ctx: RequestContext): Promise<BankStatementRecord> {
    const statement = await ctx.loaders.reconciliation.bankStatementById.load(line.statementId);
    if (!statement) throw ReconciliationErrors.statementNotFound(line.statementId);
    return statement;
  }

  @FieldResolver(() => BankAccount)
  bankAccount(@Root() line: StatementLineRecord, @Ctx() ctx: RequestContext): Promise<BankAccountRecord> {
    return loadBankAccount(ctx, line.bankAccountId);
  }

  @FieldResolver(() => StatementSource, { description: 'NOTIFICATION for a line a real-time notification stored (confirmed or not); STATEMENT for one a statement file stored.' })
  async source(@Root() line: StatementLineRecord, @Ctx() ctx: RequestContext): Promise<StatementSource> {
    return (await this.statement(line, ctx)).source;
  }

  @FieldResolver(() => BankStatement, {
    nullable: true,
    description: 'For a line a notification stored: the statement that later held it too. Null while no statement has (and for lines a statement stored).',
  })
  async confirmedBy(@Root() line: StatementLineRecord, @Ctx() ctx: RequestContext): Promise<BankStatementRecord | null> {
    if (line.confirmedByStatementId === null) return null;
    const statement = await ctx.loaders.reconciliation.bankStatementById.load(line.confirmedByStatementId);
    if (!statement) throw ReconciliationErrors.statementNotFound(line.confirmedByStatementId);
    return statement;
  }
}

@Resolver(() => ReconciliationFlag)
export class ReconciliationFlagResolver {
  @Query(() => ReconciliationFlagConnection, { nullable: true, description: 'The tenant’s reconciliation flags in sequence order.' })
  async reconciliationFlags(
    @Args() page: PageArgs,
    @Arg('filter', () => ReconciliationFlagFilterInput, { nullable: true }) filter: ReconciliationFlagFilterInput | null,
    @Ctx() ctx: RequestContext,
  ) {
    const { tenantId } = ctx.principal;
    const result = await ctx.services.reconciliation.listFlags(tenantId, filter ?? {}, page);
    return toConnection(result, (flag) => String(flag.sequence), (flag) => flag, () => ctx.services.reconciliation.countFlags(tenantId, filter ?? {}));
  }

  @FieldResolver(() => BigIntScalar)
  sequence(@Root() flag: ReconciliationFlagRecord): bigint {
    return BigInt(flag.sequence);
  }

  @FieldResolver(() => BankAccount, { nullable: true, description: 'The bank account the flag is about; null for gateway-side flags (PAYOUT_MISMATCH, GATEWAY_MISMATCH).' })
  async bankAccount(@Root() flag: ReconciliationFlagRecord, @Ctx() ctx: RequestContext): Promise<BankAccountRecord | null> {
    return flag.bankAccountId === null ? null : loadBankAccount(ctx, flag.bankAccountId);
  }
}

export const RECONCILIATION_RESOLVERS = [BankAccountResolver, BankStatementResolver, BankStatementLineResolver, ReconciliationFlagResolver] as const;
