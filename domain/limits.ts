/**
 * What a send request must satisfy before any money moves. Pure: the API and the workflow input both go
 * through `validateSendRequest`, and every refusal is a typed error naming the rule.
 */
import { assertUserId } from './accounts';
import { DomainError, ErrorCode } from './errors';

export type PacketType = 'random' | 'fixed' | 'personal';

export interface PacketLimits {
  maxTotalFen: number;
  maxCount: number;
  minExpirySeconds: number;
  defaultExpirySeconds: number;
  maxExpirySeconds: number;
}

export interface SendRequest {
  type: PacketType;
  amountFen: number;
  count: number;
  greeting?: string | undefined;
  recipientId?: string | undefined;
  audience?: string[] | undefined;
  expiresInSeconds?: number | undefined;
}

/** A send request that passed every rule, with defaults applied. */
export interface ValidSend {
  type: PacketType;
  totalFen: number;
  count: number;
  greeting: string | null;
  recipientId: string | null;
  audience: string[] | null;
  expiresInSeconds: number;
}

export const GREETING_MAX_LENGTH = 100;

/**
 * Characters a greeting may not hold, because other people's screens show it: C0 and C1 controls (U+0085
 * NEL among them) and DEL; the line and paragraph separators U+2028-U+2029, which break a line like \n; the
 * bidi embeddings, overrides and isolates U+202A-U+202E and U+2066-U+2069, which reorder the text around
 * them ("Trojan Source", CVE-2021-42574) so a greeting can show something other than what it says; and
 * lone surrogates (\p{Cs} in unicode mode), which are not text. The bidi marks U+200E, U+200F and U+061C
 * stay allowed: they only nudge neutral characters, and Arabic and Hebrew greetings need them.
 */
const GREETING_REFUSED_CHARACTERS =
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused here
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\p{Cs}]/u;

function refuse(code: ErrorCode, message: string, details: Record<string, unknown> = {}): never {
  throw new DomainError(code, message, details);
}

function isWhole(value: number): boolean {
  return Number.isSafeInteger(value);
}

export function validateSendRequest(senderId: string, request: SendRequest, limits: PacketLimits): ValidSend {
  const { type, amountFen, count } = request;
  if (!isWhole(amountFen) || amountFen < 1)
    refuse(ErrorCode.InvalidAmount, 'amountFen must be a positive whole number of fen');
  if (amountFen > limits.maxTotalFen) {
    refuse(ErrorCode.LimitExceeded, `a packet holds at most ${limits.maxTotalFen} fen`, {
      maxTotalFen: limits.maxTotalFen,
    });
  }
  if (!isWhole(count) || count < 1 || count > limits.maxCount) {
    refuse(ErrorCode.LimitExceeded, `count must be between 1 and ${limits.maxCount}`, {
      maxCount: limits.maxCount,
    });
  }
  if (amountFen < count)
    refuse(ErrorCode.InvalidPacket, 'every share needs at least 1 fen', { amountFen, count });
  if (type === 'fixed' && amountFen % count !== 0) {
    refuse(ErrorCode.InvalidPacket, 'a fixed packet amount must divide evenly into its shares', {
      amountFen,
      count,
    });
  }

  let recipientId: string | null = null;
  if (type === 'personal') {
    if (!request.recipientId) refuse(ErrorCode.InvalidPacket, 'a personal packet needs a recipientId');
    assertUserId(request.recipientId);
    if (request.recipientId === senderId)
      refuse(ErrorCode.InvalidPacket, 'a personal packet cannot be sent to oneself');
    if (count !== 1) refuse(ErrorCode.InvalidPacket, 'a personal packet has exactly one share');
    if (request.audience)
      refuse(ErrorCode.InvalidPacket, 'a personal packet has a recipient, not an audience');
    recipientId = request.recipientId;
  } else if (request.recipientId !== undefined) {
    refuse(ErrorCode.InvalidPacket, 'only personal packets take a recipientId');
  }

  let audience: string[] | null = null;
  if (request.audience) {
    request.audience.forEach(assertUserId);
    if (new Set(request.audience).size !== request.audience.length)
      refuse(ErrorCode.InvalidPacket, 'audience lists a member twice');
    if (request.audience.length < count) {
      refuse(ErrorCode.InvalidPacket, 'the audience is smaller than the number of shares', {
        audience: request.audience.length,
        count,
      });
    }
    // The sender never claims a restricted packet (packet_claimable), so a share beyond the other members is
    // one nobody may ever claim: an audience of the sender alone would be paid, held and only refunded.
    const claimableCount = request.audience.filter((member) => member !== senderId).length;
    if (claimableCount < count) {
      refuse(
        ErrorCode.AudienceUnclaimable,
        'the audience, less the sender, is smaller than the number of shares',
        {
          claimableCount,
          count,
        },
      );
    }
    audience = [...request.audience];
  }

  const expiresInSeconds = request.expiresInSeconds ?? limits.defaultExpirySeconds;
  if (
    !isWhole(expiresInSeconds) ||
    expiresInSeconds < limits.minExpirySeconds ||
    expiresInSeconds > limits.maxExpirySeconds
  ) {
    refuse(
      ErrorCode.InvalidPacket,
      `expiresInSeconds must be between ${limits.minExpirySeconds} and ${limits.maxExpirySeconds}`,
    );
  }

  const greeting = request.greeting?.trim() ? request.greeting.trim() : null;
  if (greeting && GREETING_REFUSED_CHARACTERS.test(greeting))
    refuse(ErrorCode.InvalidPacket, 'greeting has control or text direction characters');
  if (greeting && greeting.length > GREETING_MAX_LENGTH)
    refuse(ErrorCode.InvalidPacket, `greeting is at most ${GREETING_MAX_LENGTH} characters`);

  return { type, totalFen: amountFen, count, greeting, recipientId, audience, expiresInSeconds };
}
