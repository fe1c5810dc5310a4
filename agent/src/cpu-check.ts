/**
 * A move's pre-flight on its destination: would CRIU restore here what runs on the source's CPU?
 * The source's agent recorded its CPU at start (`criu cpuinfo dump`, platform.ts); this node runs
 * `criu cpuinfo check` against that record with the `--cpu-cap` its restore will get, and names
 * the features its CPU lacks by reading both records (CRIU's refusal names none).
 *
 * cpuFeatureMask simulates a lesser CPU on one machine: the real CPU passes CRIU's check, so a
 * source whose record has a masked feature is refused here as CRIU refuses a CPU that lacks it,
 * with CRIU's own words for that case.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CRIU_CPU_FEATURES, type CpuCheckRequest, GodwitError } from '@godwit/schemas';
import { CPUINFO_IMAGE, type Criu } from './criu.js';
import { imageEntries, readMessage, repeatedU32, single, WIRE_BYTES, WireFormatError } from './protobuf-wire.js';

const CPUINFO_MAGIC = 0x61404013;
/** cpuinfo_entry.x86_entry, and its capability words */
const X86_ENTRY = 1;
const CAPABILITY = 6;
/** the bits CRIU's FPU check compares (cpu_validate_features); the others are its instruction check */
const FPU_FEATURES = new Set(['fpu', 'fxsr', 'osxsave', 'xsaves']);

/** the features CRIU compares that a cpuinfo.img records; throws WireFormatError for bytes that are none */
export function recordedFeatures(image: Buffer): Set<string> {
  const [entry] = imageEntries(image, CPUINFO_MAGIC);
  if (!entry) throw new WireFormatError('it has no entry');
  const x86 = single(readMessage(entry), X86_ENTRY, WIRE_BYTES);
  if (!x86) throw new WireFormatError('it records no x86 CPU');
  const words = repeatedU32(readMessage(x86.bytes), CAPABILITY);
  return new Set(Object.entries(CRIU_CPU_FEATURES).filter(([, bit]) => ((words[bit >> 5] ?? 0) >>> (bit & 31)) & 1).map(([name]) => name));
}

/** what CRIU's check says of a CPU lacking these features (cpu_validate_features' errors) */
export function criuWouldSay(missing: readonly string[]): string {
  return missing.some((f) => FPU_FEATURES.has(f)) ? 'FPU feature required by image is not supported on host' : 'CPU instruction capabilities do not match run time';
}

export interface CpuCheckDeps {
  criu: Pick<Criu, 'cpuinfoCheck'>;
  node: string;
  /** where this node's own record is (platform.ts) and the check's scratch directories go, root's alone */
  dataDir: string;
  /** cpuFeatureMask: features this node says its CPU lacks (a simulation) */
  mask: readonly string[];
}

/** the directory of this node's own CPU record (`criu cpuinfo dump` at agent start) */
export const cpuinfoDir = (dataDir: string): string => join(dataDir, 'cpuinfo');

/** this node's features as its own record has them, less the masked ones; undefined without a record */
function ownFeatures(deps: CpuCheckDeps): Set<string> | undefined {
  const path = join(cpuinfoDir(deps.dataDir), CPUINFO_IMAGE);
  if (!existsSync(path)) return undefined;
  const own = recordedFeatures(readFileSync(path));
  for (const f of deps.mask) own.delete(f);
  return own;
}

/** CRIU's reasons to refuse `image` on this CPU (empty: none), from a scratch directory of its own */
async function criuCheck(deps: CpuCheckDeps, image: Buffer): Promise<string[]> {
  const dir = await mkdtemp(join(deps.dataDir, 'cpu-check-'));
  try {
    await writeFile(join(dir, CPUINFO_IMAGE), image, { mode: 0o600 });
    return await deps.criu.cpuinfoCheck(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Throws GODWIT_ERR_CPU_INCOMPATIBLE, naming the features and CRIU's reason, where CRIU would not restore here what ran on `from`. */
export async function requireCpuRecordFits(deps: CpuCheckDeps, req: CpuCheckRequest): Promise<void> {
  const image = Buffer.from(req.cpuinfo, 'base64');
  let theirs: Set<string>;
  try {
    theirs = recordedFeatures(image);
  } catch (err) {
    if (!(err instanceof WireFormatError)) throw err;
    throw new GodwitError('GODWIT_ERR_BAD_REQUEST', `the CPU record of ${req.from} is no cpuinfo image of CRIU's: ${err.message}`);
  }
  const reasons = await criuCheck(deps, image);
  const ours = ownFeatures(deps);
  const missing = ours ? [...theirs].filter((f) => !ours.has(f)).sort() : [];
  const masked = missing.filter((f) => deps.mask.includes(f));
  if (!reasons.length && !masked.length) return;
  const lacks = missing.length ? `${deps.node}'s CPU lacks ${missing.join(', ')} that ${req.from}'s CPU has: ` : '';
  const said = reasons.length
    ? `CRIU's \`cpuinfo check\` on ${deps.node} refuses ${req.from}'s CPU: ${reasons.join('; ')}`
    : `CRIU's \`cpuinfo check\` would refuse it: ${criuWouldSay(masked)} (${masked.join(', ')} masked by ${deps.node}'s cpuFeatureMask, a simulation)`;
  throw new GodwitError('GODWIT_ERR_CPU_INCOMPATIBLE', `${lacks}${said}`, { node: deps.node, from: req.from, missing, criu: reasons });
}
