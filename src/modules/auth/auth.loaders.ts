import DataLoader from 'dataloader';
import type { ApiKeyEntity } from './api-key.entity';
import type { AuthService } from './auth.service';
import type { OAuthClientEntity } from './oauth-client.entity';

/** The auth module's DataLoaders, one set per request and tenant (node and nodes read through them). */
export class AuthLoaders {
  readonly apiKeyById: DataLoader<string, ApiKeyEntity | null>;
  readonly oauthClientById: DataLoader<string, OAuthClientEntity | null>;

  constructor(auth: AuthService, tenantId: string) {
    this.apiKeyById = new DataLoader(async (ids) => {
      const found = new Map((await auth.apiKeysByIds(tenantId, ids)).map((key) => [key.id, key]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.oauthClientById = new DataLoader(async (ids) => {
      const found = new Map((await auth.oauthClientsByIds(tenantId, ids)).map((client) => [client.id, client]));
      return ids.map((id) => found.get(id) ?? null);
    });
  }
}
