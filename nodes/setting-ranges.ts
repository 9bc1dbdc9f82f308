/**
 * Numeric node settings, checked against the range the runtime can honour. A value out of
 * range used to misbehave quietly (a timeout beyond Node's 2^31-1 ms timer limit fires at
 * once, a queue limit of 0 became 10); now it is refused with the setting's name, as the
 * dialog labels it, and the range to use.
 */
import { Sam2InputError } from '../lib/errors';

/** Node's timers hold at most 2^31-1 ms; a longer delay fires after 1 ms (with a warning). */
export const TIMER_MAX_MS = 2 ** 31 - 1;

export interface Range {
  /** The setting's label in the dialog, e.g. `Timeout`. */
  name: string;
  min: number;
  max: number;
  /** Whole numbers only. */
  integer?: boolean;
  /** Used when the setting is empty or absent. */
  fallback: number;
  /** Words after the number, e.g. `seconds`. */
  unit?: string;
  /** `min` itself is not allowed (e.g. a timeout must be above 0). */
  above?: boolean;
}

/** The setting as a number within `range`, or the fallback when it is empty. */
export function rangeSetting(value: unknown, range: Range): number {
  if (value === undefined || value === null || (typeof value === 'string' && value.trim() === '')) return range.fallback;
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value.trim()) : NaN;
  const unit = range.unit ? ` ${range.unit}` : '';
  const span = range.above ? `more than ${range.min} and at most ${range.max}` : `from ${range.min} to ${range.max}`;
  const fix = `Use ${range.integer ? 'a whole number' : 'a number'} ${span}${unit}, or leave it empty for ${range.fallback}`;
  if (!Number.isFinite(n)) throw new Sam2InputError(range.name, `is ${JSON.stringify(value)}, not a number`, fix);
  if (range.integer && !Number.isInteger(n)) throw new Sam2InputError(range.name, `is ${n}, not a whole number`, fix);
  if (n < range.min || (range.above && n === range.min) || n > range.max) throw new Sam2InputError(range.name, `is ${n}${unit}, out of range`, fix);
  return n;
}
