/**
 * `json.loads` as the runner's Python sees it: it accepts `NaN`, `Infinity` and `-Infinity`
 * (a `mask_input` copied from an answer may hold them) where `JSON.parse` refuses them, and
 * its error text (`Expecting value: line 1 column 1 (char 0)`) is what the runner's 400
 * answer quotes, so clients see the same words from the local server as from the real one.
 */

export type PyJson = null | boolean | number | string | PyJson[] | { [key: string]: PyJson };

export class PyJsonError extends Error {}

const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?/y;

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  fail(what: string, at: number): never {
    const before = this.s.slice(0, at);
    const line = before.split('\n').length;
    const column = at - before.lastIndexOf('\n');
    throw new PyJsonError(`${what}: line ${line} column ${column} (char ${at})`);
  }

  skipSpace(): void {
    const s = this.s;
    let i = this.i;
    for (let c = s.charCodeAt(i); c === 32 || c === 9 || c === 10 || c === 13; c = s.charCodeAt(++i));
    this.i = i;
  }

  document(): PyJson {
    this.skipSpace();
    const value = this.value();
    this.skipSpace();
    if (this.i !== this.s.length) this.fail('Extra data', this.i);
    return value;
  }

  private literal(text: string, value: PyJson): PyJson | undefined {
    if (!this.s.startsWith(text, this.i)) return undefined;
    this.i += text.length;
    return value;
  }

  private value(): PyJson {
    const start = this.i;
    const c = this.s[start];
    let v: PyJson | undefined;
    if (c === '[') return this.array();
    if (c === '{') return this.object();
    if (c === '"') return this.string();
    if (c === 't') v = this.literal('true', true);
    else if (c === 'f') v = this.literal('false', false);
    else if (c === 'n') v = this.literal('null', null);
    else if (c === 'N') v = this.literal('NaN', NaN);
    else if (c === 'I') v = this.literal('Infinity', Infinity);
    else if (c === '-' && this.s.startsWith('-Infinity', start)) v = this.literal('-Infinity', -Infinity);
    else {
      NUMBER.lastIndex = start;
      const m = NUMBER.exec(this.s);
      if (m) {
        this.i = start + m[0].length;
        v = Number(m[0]);
      }
    }
    if (v === undefined) this.fail('Expecting value', start);
    return v;
  }

  private array(): PyJson[] {
    const out: PyJson[] = [];
    this.i++;
    this.skipSpace();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.skipSpace();
      const c = this.s[this.i];
      if (c === ']') {
        this.i++;
        return out;
      }
      if (c !== ',') this.fail("Expecting ',' delimiter", this.i);
      this.i++;
      this.skipSpace();
    }
  }

  private object(): { [key: string]: PyJson } {
    const out: { [key: string]: PyJson } = {};
    this.i++;
    this.skipSpace();
    if (this.s[this.i] === '}') {
      this.i++;
      return out;
    }
    for (;;) {
      if (this.s[this.i] !== '"') this.fail('Expecting property name enclosed in double quotes', this.i);
      const key = this.string();
      this.skipSpace();
      if (this.s[this.i] !== ':') this.fail("Expecting ':' delimiter", this.i);
      this.i++;
      this.skipSpace();
      out[key] = this.value();
      this.skipSpace();
      const c = this.s[this.i];
      if (c === '}') {
        this.i++;
        return out;
      }
      if (c !== ',') this.fail("Expecting ',' delimiter", this.i);
      this.i++;
      this.skipSpace();
    }
  }

  private string(): string {
    const s = this.s;
    const open = this.i;
    let i = open + 1;
    let out = '';
    for (;;) {
      if (i >= s.length) this.fail('Unterminated string starting at', open);
      const c = s.charCodeAt(i);
      if (c === 34) break;
      if (c < 32) this.fail('Invalid control character at', i);
      if (c !== 92) {
        out += s[i++];
        continue;
      }
      if (i + 1 >= s.length) this.fail('Unterminated string starting at', open);
      const e = s[i + 1];
      const simple = ({ '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' } as Record<string, string>)[e];
      if (simple !== undefined) {
        out += simple;
        i += 2;
      } else if (e === 'u') {
        const hex = s.slice(i + 2, i + 6);
        if (i + 6 >= s.length || !/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('Invalid \\uXXXX escape', i + 1);
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else {
        this.fail('Invalid \\escape', i);
      }
    }
    this.i = i + 1;
    return out;
  }
}

/** Parses `text` like Python's `json.loads`; throws PyJsonError with Python's message. */
export function pyJsonLoads(text: string): PyJson {
  return new Parser(text).document();
}
