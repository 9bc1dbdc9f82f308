/**
 * The API token as it may be sent: a token pasted from a dashboard or a password manager often
 * brings a newline, a space or an invisible character along, and each of those makes every
 * request fail (undici refuses the header, or the server answers 401). The ends are trimmed;
 * a character inside that cannot go in an Authorization header is refused, naming the setting
 * and never showing the token.
 */
import { Sam2InputError } from './errors';

/** Whitespace and the invisible format characters that ride along with pasted text. */
const AROUND = /^[\s\u200b-\u200d\u2060\ufeff]+|[\s\u200b-\u200d\u2060\ufeff]+$/g;
/** A bearer token is visible ASCII (RFC 6750's b64token is a subset). */
const SENDABLE = /^[\x21-\x7e]*$/;

/** The token trimmed, or '' for none; throws a Sam2InputError naming `field` for a character that cannot be sent. */
export function cleanToken(raw: string | undefined | null, field = 'token'): string {
  if (raw === undefined || raw === null) return '';
  if (typeof raw !== 'string') throw new Sam2InputError(field, `is ${typeof raw}, not text`, 'Paste the token as text');
  const token = raw.replace(AROUND, '');
  if (SENDABLE.test(token)) return token;
  const at = [...token].findIndex((c) => !SENDABLE.test(c));
  const char = [...token][at];
  const code = `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  throw new Sam2InputError(
    field,
    `has a character that cannot be sent in an HTTP header (${code} at position ${at + 1})`,
    'Paste the token again, or type it: tokens are plain ASCII letters, digits and punctuation',
  );
}
