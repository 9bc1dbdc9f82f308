import assert from 'node:assert/strict';
import { errorDetail, parseRetryAfter } from '../lib/api-error';

describe('error bodies', () => {
  // Each shape shared/API.md lists, from the runner, the gateway, Studio and plain proxies.
  const cases: Array<[string, number, string, string]> = [
    ['runner detail.msg', 400, '{"detail": {"msg": "pipeline configured with A but called with B."}}', 'pipeline configured with A but called with B.'],
    ['runner detail text', 400, '{"detail": "There was an error parsing the body"}', 'There was an error parsing the body'],
    ['runner validation list', 422, '{"detail": [{"loc": ["body", "image"], "msg": "field required", "type": "value_error.missing"}]}', 'body.image: field required'],
    ['gateway error.message', 503, '{"error": {"message": "Service Unavailable Error"}}', 'Service Unavailable Error'],
    ['studio errors list', 429, '{"errors": ["Too many AI requests"]}', 'Too many AI requests'],
    ['plain text', 502, 'Bad Gateway\n', 'Bad Gateway'],
    ['an HTML page', 504, '<html><body><h1>504 Gateway Time-out</h1></body></html>', '504 Gateway Time-out'],
  ];
  for (const [what, status, body, detail] of cases) {
    it(`reads ${what}`, () => assert.equal(errorDetail(status, body), detail));
  }

  it('says something useful for an empty body', () => {
    assert.equal(errorDetail(500, '', 'Internal Server Error'), 'Internal Server Error');
    assert.equal(errorDetail(500, ''), 'HTTP 500 with an empty body');
  });

  it('reads Retry-After as seconds or as a date', () => {
    assert.equal(parseRetryAfter('2'), 2000);
    assert.equal(parseRetryAfter('Wed, 25 Nov 2026 10:00:05 GMT', Date.parse('Wed, 25 Nov 2026 10:00:00 GMT')), 5000);
    assert.equal(parseRetryAfter(undefined), undefined);
    assert.equal(parseRetryAfter('soon'), undefined);
  });
});
