/**
 * Python's `repr(float)`, the text the runner puts in every number of an answer
 * (`str(tensor.tolist())`). Both Python and JavaScript print the shortest digits that
 * round-trip a double; they differ only in when they switch to exponent form and how they
 * write it, so we take JavaScript's digits and lay them out the way Python does.
 */

/** The shortest round-trip digits of a finite, positive `a` and its decimal exponent (a = d.ddd × 10^exp). */
function digitsAndExponent(a: number): { digits: string; exp: number } {
  const s = String(a);
  const e = s.indexOf('e');
  if (e >= 0) return { digits: s.slice(0, e).replace('.', ''), exp: Number(s.slice(e + 1)) };
  const dot = s.indexOf('.');
  const intPart = dot < 0 ? s : s.slice(0, dot);
  const all = (intPart + (dot < 0 ? '' : s.slice(dot + 1))).replace(/0+$/, '');
  const lead = all.length - all.replace(/^0+/, '').length;
  const exp = intPart === '0' ? -lead : intPart.length - 1;
  return { digits: all.slice(lead) || '0', exp };
}

/**
 * `repr(x)` in Python 3: `3.0`, `-0.0`, `0.1`, `1e-05`, `1.5e+20`, `nan`, `inf`. Python
 * writes fixed notation while the decimal exponent is in [-4, 16) and adds `.0` to whole
 * numbers; outside it uses `d.ddde±XX` with at least two exponent digits.
 */
export function pyFloatRepr(x: number): string {
  if (x !== x) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const a = x < 0 ? -x : x;
  // JavaScript's String() is already in fixed notation over this whole range, with the same digits.
  if (a >= 1e-4 && a < 1e16) {
    const s = String(x);
    return Number.isInteger(x) ? `${s}.0` : s;
  }
  const { digits, exp } = digitsAndExponent(a);
  const mantissa = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  const expText = Math.abs(exp) < 10 ? `0${Math.abs(exp)}` : String(Math.abs(exp));
  return `${x < 0 ? '-' : ''}${mantissa}e${exp < 0 ? '-' : '+'}${expText}`;
}

/** Python's `str()` of a flat list of floats: `[1.0, -0.5, nan]`. */
export function pyFloatList(values: ArrayLike<number>): string {
  let s = '[';
  for (let i = 0; i < values.length; i++) s += i === 0 ? pyFloatRepr(values[i]) : `, ${pyFloatRepr(values[i])}`;
  return `${s}]`;
}
