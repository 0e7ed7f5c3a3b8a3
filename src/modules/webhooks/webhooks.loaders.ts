import DataLoader from 'dataloader';
import type { WebhookDeliveriesService, WebhookDeliveryAttemptRecord, WebhookDeliveryRecord } from './webhook-deliveries.service';
import type { WebhookEndpoint, WebhooksService } from './webhooks.service';

/** The webhooks module's DataLoaders, one set per request and tenant. */
export class WebhookLoaders {
  readonly webhookEndpointById: DataLoader<string, WebhookEndpoint | null>;
  readonly webhookDeliveryById: DataLoader<string, WebhookDeliveryRecord | null>;
  /** Every attempt of a delivery: one statement for a page of deliveries. */
  readonly attemptsByDeliveryId: DataLoader<string, WebhookDeliveryAttemptRecord[]>;
  /** The exact body of an event, as POSTed. */
  readonly payloadByEventId: DataLoader<string, string | null>;

  constructor(webhooks: WebhooksService, deliveries: WebhookDeliveriesService, tenantId: string) {
    this.webhookEndpointById = new DataLoader(async (ids) => {
      const found = new Map((await webhooks.endpointsByIds(tenantId, ids)).map((endpoint) => [endpoint.id, endpoint]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.webhookDeliveryById = new DataLoader(async (ids) => {
      const found = new Map((await deliveries.deliveriesByIds(tenantId, ids)).map((delivery) => [delivery.id, delivery]));
      return ids.map((id) => found.get(id) ?? null);
    });
    this.attemptsByDeliveryId = new DataLoader(async (ids) => {
      const found = await deliveries.attemptsOf(tenantId, ids);
      return ids.map((id) => found.get(id) ?? []);
    });
    this.payloadByEventId = new DataLoader(async (ids) => {
      const found = await deliveries.payloadsOf(tenantId, ids);
      return ids.map((id) => found.get(id) ?? null);
    });
  }
}
