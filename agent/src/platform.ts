/**
 * What this node is, found once as the agent starts and reported to the orchestrator: its CPU
 * (model and feature names, which the orchestrator compares before a program moves here), the
 * kernel and CRIU. CRIU's own record of the CPU (`criu cpuinfo dump`) is kept in a directory of
 * the agent's and sent to the orchestrator, which has a destination check it (cpu-check.ts)
 * before a program comes from here.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import type { NodePlatform } from '@godwit/schemas';
import { CPUINFO_IMAGE, type Criu } from './criu.js';
import { cpuinfoDir } from './cpu-check.js';

export interface CpuInfo {
  model: string;
  features: string[];
}

/**
 * The first processor's model and feature names from /proc/cpuinfo's text: x86 calls them
 * `model name` and `flags`, arm64 has no model name and calls them `Features`.
 */
export function parseCpuinfo(text: string): CpuInfo {
  const first = text.split(/\n\s*\n/)[0] ?? '';
  const field = (...names: string[]) => {
    for (const line of first.split('\n')) {
      const at = line.indexOf(':');
      if (at > 0 && names.includes(line.slice(0, at).trim())) return line.slice(at + 1).trim();
    }
    return undefined;
  };
  const features = (field('flags', 'Features') ?? '').split(/\s+/).filter((f) => f !== '');
  return { model: field('model name', 'cpu model', 'uarch', 'CPU implementer') ?? 'unknown', features: [...new Set(features)].sort() };
}

/** equal feature sets, equal hashes: `godwit nodes -V` shows at a glance which nodes differ */
export function featureHash(features: readonly string[]): string {
  return createHash('sha256').update([...features].sort().join(' ')).digest('hex').slice(0, 16);
}

/** the platform as reported: the features less those the configuration masks (a simulation) */
export function describePlatform(cpu: CpuInfo, mask: readonly string[], kernel: string, criuVersion: string): NodePlatform {
  const masked = new Set(mask);
  const cpuFeatures = cpu.features.filter((f) => !masked.has(f));
  return {
    cpuModel: cpu.model,
    cpuFeatures,
    cpuMasked: cpu.features.filter((f) => masked.has(f)),
    cpuFeatureHash: featureHash(cpuFeatures),
    kernel,
    criuVersion,
  };
}

/**
 * Reads this node's platform, and has CRIU write its record of the CPU to <dataDir>/cpuinfo
 * (root's alone). A failure of that dump is logged, not fatal: the comparison the orchestrator
 * makes needs only the names.
 */
export async function readPlatform(opts: { dataDir: string; cpuFeatureMask?: readonly string[]; criu: Criu; criuVersion: string; warn: (msg: string) => void }): Promise<NodePlatform> {
  const dir = cpuinfoDir(opts.dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    await opts.criu.cpuinfoDump(dir);
  } catch (err) {
    opts.warn(`CRIU could not record this CPU in ${dir}: ${(err as Error).message}`);
  }
  return describePlatform(parseCpuinfo(readFileSync('/proc/cpuinfo', 'utf8')), opts.cpuFeatureMask ?? [], release(), opts.criuVersion);
}

/** the record readPlatform had CRIU write, base64 as the hello carries it; undefined when CRIU wrote none */
export function readCpuRecord(dataDir: string): string | undefined {
  const path = join(cpuinfoDir(dataDir), CPUINFO_IMAGE);
  return existsSync(path) ? readFileSync(path).toString('base64') : undefined;
}
