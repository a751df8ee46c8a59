/**
 * Label values come from bounded sets (CONVENTIONS.md): an enum, an error code union, the mesh
 * topics. Anything outside the set a metric declares is counted under `other`, so a peer that
 * sends an unknown code or topic adds one sample to `other`, never a new time series.
 */

/** The label value of everything outside a metric's declared set. */
export const OTHER_LABEL = 'other'

/**
 * Longest label value kept as it is. Codes and enum members are far shorter; the cap only keeps a
 * value from a library's open-ended field (an error text) from growing a series name without end.
 */
export const MAX_LABEL_CHARS = 64

/** `value` if `allowed` holds it (or, without `allowed`, if it is short), else `other`. */
export function boundedLabel (value: string | number, allowed?: ReadonlySet<string>): string {
  const s = String(value)
  if (allowed != null) { return allowed.has(s) ? s : OTHER_LABEL }
  return s.length <= MAX_LABEL_CHARS ? s : OTHER_LABEL
}
