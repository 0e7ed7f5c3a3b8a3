import DataLoader from 'dataloader';
import type { WebhookEndpoint, WebhooksService } from './webhooks.service';

/** The webhooks module's DataLoaders, one set per request and tenant. */
export class WebhookLoaders {
  readonly webhookEndpointById: DataLoader<string, WebhookEndpoint | null>;

  constructor(webhooks: WebhooksService, tenantId: string) {
    this.webhookEndpointById = new DataLoader(async (ids) => {
      const found = new Map((await webhooks.endpointsByIds(tenantId, ids)).map((endpoint) => [endpoint.id, endpoint]));
      return ids.map((id) => found.get(id) ?? null);
    });
  }
}
