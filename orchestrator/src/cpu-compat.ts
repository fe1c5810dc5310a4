/**
 * Whether a program can run on another node's CPU: CRIU's `criu cpuinfo check` with its default
 * `--cpu-cap` (fpu,ins: criu/include/cr_options.h CPU_CAP_DEFAULT). That compares the FPU bits and
 * the instruction-set features of criu/arch/x86/cpu.c's x86_ins_capability_mask: each the source
 * has, the destination must have (it may have more). A program restored where one is missing dies
 * of SIGILL at its first such instruction (libraries chose their code by the CPU they started on),
 * so such a destination is refused before anything stops. The names are the kernel's, as
 * /proc/cpuinfo spells them: comparing them chooses among nodes (placement, the balancer, `godwit
 * why`). A move or continue to a node asks that node's CRIU itself first (requireCpuRuns), which
 * also compares what has no name here (the xsave features and sizes).
 */
import { CRIU_CPU_FEATURES, GodwitError, type Node, type NodePlatform, toGodwitError } from '@godwit/schemas';
import type { Ctx } from './context.js';

/** the names of what CRIU compares (its bits in the images are the agent's business) */
const CHECKED = new Set(Object.keys(CRIU_CPU_FEATURES));

/** the features CRIU compares that `from` has and `to` lacks, sorted */
export function missingCpuFeatures(from: Pick<NodePlatform, 'cpuFeatures'>, to: Pick<NodePlatform, 'cpuFeatures'>): string[] {
  const there = new Set(to.cpuFeatures);
  return from.cpuFeatures.filter((f) => CHECKED.has(f) && !there.has(f)).sort();
}

/** a node and what its agent reported (null: not reported yet, or an agent from before) */
export interface CpuEnd {
  name: string;
  platform: NodePlatform | null;
}

/** the features CRIU compares that from's CPU has and to's lacks (none when either has not said) */
function missingBetween(from: CpuEnd, to: CpuEnd): string[] {
  return from.platform && to.platform ? missingCpuFeatures(from.platform, to.platform) : [];
}

/** whether to's CPU runs what from's runs (yes when either has not said) */
export function cpuFits(from: CpuEnd, to: CpuEnd): boolean {
  return missingBetween(from, to).length === 0;
}

/** node `name` of the list (one not there has reported nothing) */
export function cpuEndOf(nodes: readonly Node[], name: string): CpuEnd {
  return { name, platform: nodes.find((n) => n.name === name)?.platform ?? null };
}

/** the words for a CPU that lacks `missing` (not empty) */
const lacking = (program: string, from: CpuEnd, to: CpuEnd, missing: readonly string[]) =>
  `${to.name}'s CPU lacks ${missing.join(', ')} that ${from.name}'s CPU has: ${program} would die of SIGILL there`;

/**
 * Why `to`'s CPU cannot run what runs on `from`'s, in words (undefined: it can, or one of them
 * has not said). `program` names what would go there and why from's CPU is its, e.g. "process 3 (running on node0)".
 */
export function cpuMismatch(program: string, from: CpuEnd, to: CpuEnd): string | undefined {
  const missing = missingBetween(from, to);
  return missing.length ? lacking(program, from, to, missing) : undefined;
}

/** Throws GODWIT_ERR_CPU_INCOMPATIBLE, naming the missing features, when to's CPU cannot run it. */
export function requireCpuFits(program: string, from: CpuEnd, to: CpuEnd, nothingDone: string): void {
  const missing = missingBetween(from, to);
  if (!missing.length) return;
  throw new GodwitError('GODWIT_ERR_CPU_INCOMPATIBLE', `${lacking(program, from, to, missing)}; ${nothingDone} (\`godwit nodes -V\` shows each node's CPU)`, {
    node: to.name,
    from: from.name,
    missing,
  });
}

/**
 * The destination's own word before a program comes from `from`: its agent runs `criu cpuinfo
 * check` against the CPU record `from`'s agent sent at start, as CRIU's restore would, and names
 * the features its CPU lacks. Where `from` sent none (CRIU could not write it), the names the
 * agents reported are compared instead. Throws GODWIT_ERR_CPU_INCOMPATIBLE ending in nothingDone.
 */
export async function requireCpuRuns(ctx: Pick<Ctx, 'nodes' | 'agent'>, program: string, from: string, to: string, nothingDone: string): Promise<void> {
  if (from === to) return;
  const cpuinfo = ctx.nodes.cpuinfo(from);
  if (cpuinfo === undefined) {
    const known = ctx.nodes.list();
    requireCpuFits(program, cpuEndOf(known, from), cpuEndOf(known, to), nothingDone);
    return;
  }
  // a destination that accepted this source's record once, connected since, is not asked again
  const accepted = ctx.nodes.cpuAccepted(to);
  if (accepted?.get(from) === cpuinfo) return;
  try {
    await ctx.agent(to).cpuCheck({ from, cpuinfo });
    accepted?.set(from, cpuinfo);
  } catch (err) {
    const e = toGodwitError(err, 'GODWIT_ERR_CPU_INCOMPATIBLE');
    if (e.code !== 'GODWIT_ERR_CPU_INCOMPATIBLE') throw e;
    throw new GodwitError(e.code, `${program} would die of SIGILL on ${to}: ${e.message}; ${nothingDone}`, { ...e.details, node: to, from });
  }
}
