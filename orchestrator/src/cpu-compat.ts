/**
 * Whether a program can run on another node's CPU: CRIU's `criu cpuinfo check` with its default
 * `--cpu-cap` (fpu,ins: criu/include/cr_options.h CPU_CAP_DEFAULT). That compares the FPU bits and
 * the instruction-set features of criu/arch/x86/cpu.c's x86_ins_capability_mask: each the source
 * has, the destination must have (it may have more). A program restored where one is missing dies
 * of SIGILL at its first such instruction (libraries chose their code by the CPU they started on),
 * so such a destination is refused before anything stops. The names are the kernel's, as
 * /proc/cpuinfo spells them; CRIU's xsave size check has no name there and is left to CRIU.
 */
import { GodwitError, type Node, type NodePlatform } from '@godwit/schemas';

/** CPU_CAP_FPU's feature bits, then CPU_CAP_INS's, in /proc/cpuinfo's spelling */
const CHECKED = new Set([
  // FPU
  'fpu', 'fxsr', 'osxsave', 'xsaves',
  // CPUID 1 EDX
  'tsc', 'cx8', 'sep', 'cmov', 'clflush', 'mmx', 'sse', 'sse2',
  // CPUID 8000_0001 EDX
  'syscall', 'mmxext', 'rdtscp', '3dnowext', '3dnow',
  // Linux-defined
  'rep_good', 'nopl',
  // CPUID 1 ECX (X86_FEATURE_XMM3 is pni, MWAIT is monitor)
  'pni', 'pclmulqdq', 'monitor', 'ssse3', 'cx16', 'sse4_1', 'sse4_2', 'movbe', 'popcnt', 'aes', 'xsave', 'avx', 'f16c', 'rdrand',
  // CPUID 8000_0001 ECX
  'abm', 'sse4a', 'misalignsse', '3dnowprefetch', 'xop', 'fma4', 'tbm',
  // CPUID 7.0 EBX
  'fsgsbase', 'bmi1', 'hle', 'avx2', 'bmi2', 'erms', 'rtm', 'mpx', 'avx512f', 'avx512dq', 'rdseed', 'adx', 'clflushopt',
  'avx512pf', 'avx512er', 'avx512cd', 'sha_ni', 'avx512bw', 'avx512vl',
  // CPUID D.1 EAX
  'xsaveopt', 'xsavec', 'xgetbv1',
  // CPUID 7.0 ECX
  'avx512vbmi', 'avx512_vbmi2', 'gfni', 'vaes', 'vpclmulqdq', 'avx512_vnni', 'avx512_bitalg', 'tme', 'avx512_vpopcntdq', 'rdpid',
  // CPUID 8000_0008 EBX
  'clzero',
  // CPUID 7.0 EDX
  'avx512_4vnniw', 'avx512_4fmaps',
]);

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
