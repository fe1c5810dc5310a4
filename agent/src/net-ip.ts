/** The agent's one wrapper of iproute2's `ip`: the links, addresses and routes of programs' own network namespaces. */
import { execa } from 'execa';

const TIMEOUT_MS = 15_000;

/** Runs `ip ARGS` (in netns NAME when given); throws with what `ip` said. */
export async function ip(args: readonly string[], netns?: string): Promise<void> {
  const argv = [...(netns ? ['-n', netns] : []), ...args];
  const r = await execa('ip', argv, { reject: false, timeout: TIMEOUT_MS, stdin: 'ignore' });
  if (r.exitCode !== 0 || r.failed) throw new Error(`\`ip ${argv.join(' ')}\` failed: ${String(r.stderr || r.stdout || r.shortMessage || `exit ${r.exitCode}`).trim()}`);
}

/** `ip` that may fail (a name already gone): whether it succeeded. */
export async function ipIfThere(args: readonly string[], netns?: string): Promise<boolean> {
  const r = await execa('ip', [...(netns ? ['-n', netns] : []), ...args], { reject: false, timeout: TIMEOUT_MS, stdin: 'ignore' });
  return r.exitCode === 0;
}
