/**
 * Checks for the nodes' `defaults` (`validate:`), shared by both dialogs. A setting a flow
 * leaves out is valid everywhere: the runtime then uses its default (lib/defaults.ts), so a
 * flow written by hand with only the properties it needs imports without a red triangle.
 */

/** Left out: undefined, null or an empty field. */
export function absent(v: unknown): boolean {
  return v === undefined || v === null || v === '';
}

export function isNumber(v: unknown): v is number {
  return typeof v === 'number' && isFinite(v);
}

/** Left out, or a finite number above 0. */
export function positive(v: unknown): boolean {
  return absent(v) || (Number(v) > 0 && isFinite(Number(v)));
}

/** Left out, or a whole number from `min` up. */
export function whole(min: number): (v: unknown) => boolean {
  return (v) => absent(v) || (Number.isInteger(Number(v)) && Number(v) >= min);
}

/** Left out, or a number from `min` to `max`, both included. */
export function between(min: number, max: number): (v: unknown) => boolean {
  return (v) => absent(v) || (Number(v) >= min && Number(v) <= max);
}
