/**
 * The order of masks in every answer: best score first. A score can be NaN (the API's number
 * text includes `nan`, see shared API.md), and `b.score - a.score` is then NaN, which makes
 * Array.sort's result depend on where the NaN sat: a worse mask could come out "best". NaN
 * sorts last, always; equal scores keep their order (the sort is stable).
 */
export function byScore(a: { score: number }, b: { score: number }): number {
  const x = a.score;
  const y = b.score;
  const xNaN = Number.isNaN(x);
  const yNaN = Number.isNaN(y);
  if (xNaN || yNaN) return xNaN === yNaN ? 0 : xNaN ? 1 : -1;
  return x > y ? -1 : x < y ? 1 : 0;
}
