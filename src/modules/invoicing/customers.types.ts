/** Plain records of the invoicing module's customers, as the service reads and returns them. */

/**
 * The encrypted columns of customers, for the service and for `keys reencrypt`. email_index (the
 * blind index of the normalised email) is a keyed HMAC, not a ciphertext: rotation leaves it alone.
 */
export const CUSTOMER_ENCRYPTED_COLUMNS = { table: 'customers', columns: ['email_ciphertext', 'tax_id_ciphertext', 'address_ciphertext'] } as const;

export interface CustomerAddress {
  line1: string;
  line2: string | null;
  city: string;
  postalCode: string | null;
  region: string | null;
  /** ISO 3166-1 alpha-2, upper case. */
  country: string;
}

export interface CustomerRecord {
  id: string;
  tenantId: string;
  name: string;
  /** Decrypted, normalised (trimmed, lower-cased). */
  email: string | null;
  /** Decrypted. */
  taxId: string | null;
  /** Decrypted. */
  address: CustomerAddress | null;
  /** The currency the customer is invoiced in by default (ISO 4217), if set. */
  currency: string | null;
  metadata: Record<string, unknown> | null;
  createdAt: Date;
  updatedAt: Date;
}

/**
 * ISO 3166-1 alpha-2 officially assigned codes (249). Reserved codes such as UK, EU or XK are not
 * countries of the standard and are refused, so that invoices name a country every system knows.
 */
export const ISO_3166_ALPHA2: ReadonlySet<string> = new Set(
  (
    'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ ' +
    'DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT ' +
    'JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG ' +
    'NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH ' +
    'TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW'
  ).split(' '),
);
