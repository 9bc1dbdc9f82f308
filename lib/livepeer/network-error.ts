/**
 * undici's and Node's failures, in words a flow author can act on: which connections broke
 * (worth a retry), which certificates are not trusted (a CA file fixes those), and which host
 * name a certificate was for. This package's own errors pass through as they are.
 */
import { errors as undiciErrors } from 'undici';
import { Sam2ApiError, Sam2DecodeError, Sam2NetworkError } from '../errors';

/** Low-level failures that mean the connection broke, not that the server was slow. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CLOSED',
]);

/** OpenSSL's verdicts on a chain that does not lead to a trusted authority: a CA file fixes these. */
const UNTRUSTED_CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_UNTRUSTED',
]);

/** undici's errors, in words a flow author can act on; our own errors pass through. */
export function networkError(err: unknown, url: string): unknown {
  if (err instanceof Sam2ApiError || err instanceof Sam2DecodeError || err instanceof Sam2NetworkError) return err;
  const code = (err as { code?: string }).code ?? '';
  const cause = (err as { cause?: { code?: string } }).cause;
  const causeCode = cause?.code ?? '';
  if (err instanceof undiciErrors.HeadersTimeoutError) return new Sam2NetworkError(`${url} sent no answer in time (firstByteTimeoutMs)`, { cause: err });
  if (err instanceof undiciErrors.BodyTimeoutError) return new Sam2NetworkError(`the answer from ${url} stalled (stallTimeoutMs)`, { cause: err });
  if (CONNECTION_CODES.has(code) || CONNECTION_CODES.has(causeCode)) {
    return new Sam2NetworkError(`connection to ${url} failed: ${causeCode || code}`, { cause: err, retryable: true });
  }
  const tlsCode = causeCode || code;
  if (UNTRUSTED_CERTIFICATE_CODES.has(tlsCode)) {
    return new Sam2NetworkError(
      `the certificate of ${url} is not trusted (${tlsCode}): for a runner with a private certificate authority, set the endpoint's CA file to that authority's PEM file`,
      { cause: err },
    );
  }
  if (tlsCode === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return new Sam2NetworkError(`the certificate of ${url} is for another host name (${tlsCode}): use the name it was issued for in the URL`, { cause: err });
  }
  if (err instanceof Error && /certificate|self.signed|SSL|TLS/i.test(`${code} ${causeCode} ${err.message}`)) {
    return new Sam2NetworkError(`TLS check of ${url} failed (${tlsCode || err.message}); TLS is always verified: fix the certificate, or for a private CA set the endpoint's CA file`, { cause: err });
  }
  // undici's parser and header errors (HTTPParserError, often without a code; HPE_*, UND_ERR_*): the answer is not HTTP as it should be.
  const name = err instanceof Error ? err.name : '';
  if (err instanceof undiciErrors.UndiciError || name === 'HTTPParserError' || /^(HPE_|UND_ERR_)/.test(code) || /^(HPE_|UND_ERR_)/.test(causeCode)) {
    const what = (err as Error).message || code;
    return new Sam2NetworkError(`the answer from ${url} is not well-formed HTTP (${code || causeCode || name}: ${what}); check the URL and any proxy in front of the runner`, { cause: err });
  }
  return err;
}
