/**
 * The dialog's Multimask select (auto / on / off) as the node saves it: 'auto', or true and
 * false, which flows saved before 'auto' existed hold and which still mean on and off.
 */
export function multimaskValue(): boolean | 'auto' {
  const v = $('#sam2-segment-multimask').val();
  return v === 'true' ? true : v === 'false' ? false : 'auto';
}
