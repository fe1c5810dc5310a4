/**
 * The CPU features CRIU compares with its default `--cpu-cap` (fpu,ins): the FPU bits of
 * criu/arch/x86/cpu.c's cpu_validate_features, then the instruction-set bits of its
 * x86_ins_capability_mask. Each is named as /proc/cpuinfo spells it, with its bit in CRIU's
 * capability words (compel's X86_FEATURE_*: word * 32 + bit), so that the orchestrator compares
 * nodes by name and an agent finds the same features in a cpuinfo image.
 */
import Type, { type Static } from 'typebox';
import { Closed } from './closed.js';

const bit = (word: number, n: number) => word * 32 + n;

/** name -> bit in CRIU's capability words */
export const CRIU_CPU_FEATURES: Readonly<Record<string, number>> = {
  // FPU (CPU_CAP_FPU)
  fpu: bit(0, 0), fxsr: bit(0, 24), osxsave: bit(4, 27), xsaves: bit(10, 3),
  // CPUID 1 EDX
  tsc: bit(0, 4), cx8: bit(0, 8), sep: bit(0, 11), cmov: bit(0, 15), clflush: bit(0, 19), mmx: bit(0, 23), sse: bit(0, 25), sse2: bit(0, 26),
  // CPUID 8000_0001 EDX
  syscall: bit(1, 11), mmxext: bit(1, 22), rdtscp: bit(1, 27), '3dnowext': bit(1, 30), '3dnow': bit(1, 31),
  // Linux-defined
  rep_good: bit(3, 16), nopl: bit(3, 20),
  // CPUID 1 ECX (X86_FEATURE_XMM3 is pni, MWAIT is monitor)
  pni: bit(4, 0), pclmulqdq: bit(4, 1), monitor: bit(4, 3), ssse3: bit(4, 9), cx16: bit(4, 13), sse4_1: bit(4, 19), sse4_2: bit(4, 20),
  movbe: bit(4, 22), popcnt: bit(4, 23), aes: bit(4, 25), xsave: bit(4, 26), avx: bit(4, 28), f16c: bit(4, 29), rdrand: bit(4, 30),
  // CPUID 8000_0001 ECX
  abm: bit(6, 5), sse4a: bit(6, 6), misalignsse: bit(6, 7), '3dnowprefetch': bit(6, 8), xop: bit(6, 11), fma4: bit(6, 16), tbm: bit(6, 21),
  // CPUID 7.0 EBX
  fsgsbase: bit(9, 0), bmi1: bit(9, 3), hle: bit(9, 4), avx2: bit(9, 5), bmi2: bit(9, 8), erms: bit(9, 9), rtm: bit(9, 11), mpx: bit(9, 14),
  avx512f: bit(9, 16), avx512dq: bit(9, 17), rdseed: bit(9, 18), adx: bit(9, 19), clflushopt: bit(9, 23), avx512pf: bit(9, 26),
  avx512er: bit(9, 27), avx512cd: bit(9, 28), sha_ni: bit(9, 29), avx512bw: bit(9, 30), avx512vl: bit(9, 31),
  // CPUID D.1 EAX
  xsaveopt: bit(10, 0), xsavec: bit(10, 1), xgetbv1: bit(10, 2),
  // CPUID 7.0 ECX
  avx512vbmi: bit(11, 1), avx512_vbmi2: bit(11, 6), gfni: bit(11, 8), vaes: bit(11, 9), vpclmulqdq: bit(11, 10), avx512_vnni: bit(11, 11),
  avx512_bitalg: bit(11, 12), tme: bit(11, 13), avx512_vpopcntdq: bit(11, 14), rdpid: bit(11, 22),
  // CPUID 8000_0008 EBX
  clzero: bit(13, 0),
  // CPUID 7.0 EDX
  avx512_4vnniw: bit(18, 2), avx512_4fmaps: bit(18, 3),
};

/**
 * The `--cpu-cap` godwit gives CRIU wherever it compares CPUs (cpuinfo check, dump, restore):
 * CRIU's default, spelt out, since only an explicit one makes the dump write cpuinfo.img and the
 * restore check it.
 */
export const CRIU_CPU_CAP = 'fpu,ins';

/** a move's pre-flight: the destination checks the source's `criu cpuinfo dump` image */
export const CpuCheckRequest = Closed({
  from: Type.String({ maxLength: 255, description: 'the node whose CPU the image records' }),
  cpuinfo: Type.String({ maxLength: 4096, pattern: '^[A-Za-z0-9+/]*={0,2}$', description: 'its cpuinfo.img, as `criu cpuinfo dump` wrote it' }),
});
export type CpuCheckRequest = Static<typeof CpuCheckRequest>;
