/**
 * Greetings are shown on other people's screens, so the send refuses characters that hide or reorder text
 * (issue 13, finding 9): controls of both ranges, line separators, bidi overrides and isolates.
 */
import { validateSendRequest, type PacketLimits } from '../../domain/limits';

const LIMITS: PacketLimits = {
  maxTotalFen: 20_000,
  maxCount: 100,
  minExpirySeconds: 60,
  defaultExpirySeconds: 86_400,
  maxExpirySeconds: 30 * 86_400,
};

const send = (greeting: string) =>
  validateSendRequest('alice', { type: 'random', amountFen: 100, count: 2, greeting }, LIMITS);

describe('greetings', () => {
  test.each([
    ['NUL', 'a\u0000b'],
    ['a newline', 'a\nb'],
    ['DEL', 'a\u007fb'],
    ['the first C1 control U+0080', 'a\u0080b'],
    ['next line U+0085', 'a\u0085b'],
    ['the last C1 control U+009F', 'a\u009fb'],
    ['a line separator U+2028', 'a\u2028b'],
    ['a paragraph separator U+2029', 'a\u2029b'],
    ['a left-to-right embedding U+202A', 'a\u202ab'],
    ['a pop directional formatting U+202C', 'a\u202cb'],
    ['a right-to-left override U+202E', 'invoice \u202Efdp.exe'],
    ['a left-to-right isolate U+2066', 'a\u2066b'],
    ['a pop directional isolate U+2069', 'a\u2069b'],
    ['a lone high surrogate', 'a\ud83db'],
    ['a lone low surrogate', 'a\ude00b'],
  ])('a greeting with %s is refused', (_label, greeting) => {
    expect(() => send(greeting)).toThrow(
      expect.objectContaining({ code: 'invalid_packet', message: expect.stringMatching(/greeting/) }),
    );
  });

  test.each([
    ['Chinese', '恭喜发财，大吉大利'],
    ['an emoji (a surrogate pair)', '新年快乐 🧧😀'],
    ['Arabic with a right-to-left mark U+200F', 'عيد مبارك\u200F!'],
    ['Hebrew with a left-to-right mark U+200E', 'שנה טובה\u200E 2026'],
    ['a no-break space U+00A0 (just past the C1 range)', 'a\u00a0b'],
  ])('a greeting in %s is accepted unchanged', (_label, greeting) => {
    expect(send(greeting).greeting).toBe(greeting);
  });
});
