import { ApiKeyEntity } from '../modules/auth/api-key.entity';
import { OAuthClientEntity } from '../modules/auth/oauth-client.entity';
import { AccountEntity } from '../modules/ledger/account.entity';
import { JournalEntryEntity } from '../modules/ledger/journal-entry.entity';
import { PostingEntity } from '../modules/ledger/posting.entity';
import { TenantEntity } from '../modules/tenancy/tenant.entity';
import { WebhookEndpointEntity } from '../modules/webhooks/webhook-endpoint.entity';

export const ENTITIES = [TenantEntity, ApiKeyEntity, OAuthClientEntity, AccountEntity, JournalEntryEntity, PostingEntity, WebhookEndpointEntity];
