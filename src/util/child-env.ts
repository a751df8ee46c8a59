/**
 * The environment handed to the helper programs the mesh runs (tpm2-tools, swtpm,
 * softhsm2-util). The mesh's own process environment may carry the key passphrase, the admin key
 * passphrase and token PINs (DADM_MESH_PASSPHRASE, DADM_MESH_PKCS11_PIN, or any variable ca.json
 * names as `pin_env`), and a child's environment is readable by anyone who can read
 * /proc/PID/environ of that child or its own children. So the child gets an allow-list, not a copy
 * minus known secrets: a secret under a name we did not foresee stays out too.
 */

/** Exact names a helper program may need: finding programs and libraries, locale, temp files. */
const PASSED_NAMES = new Set(['PATH', 'HOME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'LD_LIBRARY_PATH', 'SOFTHSM2_CONF'])

/**
 * Prefixes of variables that configure the TPM and token stacks themselves (TSS2_LOG, TCTI
 * settings, tpm2-pkcs11's store) and the locale (LC_*). None of them carries a passphrase or PIN.
 */
const PASSED_PREFIXES = ['LC_', 'TSS2_', 'TPM2TOOLS_', 'TPM2_PKCS11_']

/** The allow-listed part of `from`, plus `extra` (which wins). */
export function childProcessEnv (extra: Record<string, string> = {}, from: Record<string, string | undefined> = process.env): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(from)) {
    if (value == null) { continue }
    if (PASSED_NAMES.has(name) || PASSED_PREFIXES.some(p => name.startsWith(p))) { out[name] = value }
  }
  return { ...out, ...extra }
}
