import { Field, ObjectType, registerEnumType } from 'type-graphql';
import { INVOICE_EVENT_DESCRIPTIONS, InvoiceEventType } from './invoices.events';
import { Invoice } from './invoices.objects';

registerEnumType(InvoiceEventType, {
  name: 'InvoiceEventType',
  description:
    'What happened to an invoice. Each value’s description starts with the wire name outbound webhooks carry (`invoice.finalized`); types are added, never renamed.',
  valuesConfig: Object.fromEntries(
    (Object.keys(InvoiceEventType) as (keyof typeof InvoiceEventType)[]).map((name) => [
      name,
      { description: `"${InvoiceEventType[name]}": ${INVOICE_EVENT_DESCRIPTIONS[InvoiceEventType[name]]}` },
    ]),
  ),
});

@ObjectType({ description: 'One committed change of an invoice, as invoiceUpdated delivers it.' })
export class InvoiceEvent {
  @Field(() => InvoiceEventType, { description: 'What happened.' })
  type!: InvoiceEventType;

  @Field(() => Invoice, { description: 'The invoice as stored after the change (its nested fields are read when the event is delivered).' })
  invoice!: Invoice;

  @Field({ description: 'When it happened, by the server’s clock: the time of the change (for OVERDUE, of the sweep that found it).' })
  occurredAt!: Date;
}
