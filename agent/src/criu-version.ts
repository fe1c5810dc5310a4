/**
 * Which CRIU the agent runs: godwit needs a CRIU at least as new as deploy/host/prepare.sh's
 * CRIU_MIN and built with godwit's patches (deploy/host/criu-patches/), which the build names in
 * its GitID. Without them a dump of another user's program fails where root lacks
 * CAP_SYS_RESOURCE (a container), lazy-pages spins on a CPU, and programs stay stopped longer:
 * failures that would show only in the middle of a move, so the agent refuses to start on such
 * a CRIU and says what to run instead.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface CriuVersion {
  /** e.g. 4.2.1; undefined when `criu --version` printed none */
  version: string | undefined;
  /** the build's GitID: godwit-<hash of its patches> for a CRIU prepare.sh built */
  gitId: string | undefined;
}

/** as deploy/host/prepare.sh's CRIU_MIN */
export const CRIU_MIN = '4.2';
const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const PATCH_DIR = `${REPO}deploy/host/criu-patches`;
const PREPARE = `${REPO}deploy/host/prepare.sh`;

export function parseCriuVersion(stdout: string): CriuVersion {
  return {
    version: /^Version:\s*(\S+)/m.exec(stdout)?.[1],
    gitId: /^GitID:\s*(\S+)/m.exec(stdout)?.[1],
  };
}

/** The GitID prepare.sh gives the CRIU it builds: a hash of the patches, in the order it applies them. */
export function patchesGitId(patchDir = PATCH_DIR): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(patchDir).filter((n) => n.endsWith('.patch')).sort()) hash.update(readFileSync(`${patchDir}/${name}`));
  return `godwit-${hash.digest('hex').slice(0, 12)}`;
}

/** Whether dotted version a is b or newer (4.2.1 >= 4.2). */
export function versionAtLeast(a: string, b: string): boolean {
  const [x, y] = [a, b].map((v) => v.split('.').map((n) => Number.parseInt(n, 10) || 0));
  for (let i = 0; i < Math.max(x!.length, y!.length); i++) {
    const d = (x![i] ?? 0) - (y![i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

/** Why the CRIU at `path` cannot serve godwit, with what to run; undefined when it can. */
export function criuUnfit(path: string, { version, gitId }: CriuVersion, wantGitId: string): string | undefined {
  const fix = `run \`sudo ${PREPARE}\`, which builds and installs CRIU with them, or set criuPath in the agent's configuration to such a CRIU`;
  if (version === undefined) return `${path} printed no version (is it CRIU?): godwit needs CRIU ${CRIU_MIN} or newer with godwit's patches; ${fix}`;
  if (!versionAtLeast(version, CRIU_MIN)) return `CRIU at ${path} is ${version}: godwit needs ${CRIU_MIN} or newer with godwit's patches; ${fix}`;
  if (gitId !== wantGitId) return `CRIU ${version} at ${path} lacks godwit's patches (its GitID is ${gitId ?? 'missing'}, godwit's patches make ${wantGitId}); ${fix}`;
  return undefined;
}
