/**
 * The packet workflow's patch ids, one place for all of them with their state (docs/saga.md, "Changing the
 * workflow"). A live patch keeps both branches; a deprecated one keeps only its `deprecatePatch` call, until
 * no running workflow was started before the deprecation, and then goes.
 */

/** Deprecated 2026-12-07: packets started since 2026-11-23 are credited by the credit pumps, not waves. */
export const CREDIT_PUMP_PATCH = 'credit-pump';
/** Deprecated 2026-12-07: packets started since 2026-11-30 pay in a local activity, not a remote one. */
export const LOCAL_PAYMENT_PATCH = 'local-payment';
/** Live since 2026-12-07: settlement refunds at once and leaves owed credits to the pumps. */
export const SETTLE_LEAVES_OWED_PATCH = 'settle-leaves-owed';
