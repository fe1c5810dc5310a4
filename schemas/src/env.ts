/**
 * What a program's environment may hold. LD_* would let a request steer the dynamic loader of
 * whatever starts the program, and GODWIT_* are godwit's own variables (its control directory,
 * its process id): both are refused by name, never silently dropped, so the caller knows.
 */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** why each refused variable of env is refused; empty when env may be used */
export function refusedEnv(env: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(env)) {
    if (/^LD_/.test(k)) out.push(`${k} (LD_* variables steer the dynamic loader)`);
    else if (/^GODWIT_/.test(k)) out.push(`${k} (GODWIT_* variables are godwit's own)`);
    else if (!NAME.test(k)) out.push(`${JSON.stringify(k)} (not a variable name)`);
    else if (v.includes('\0')) out.push(`${k} (its value holds a NUL byte)`);
  }
  return out;
}
