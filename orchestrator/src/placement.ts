/**
 * Where a new process starts: the node asked for, its home, or (MOSIX's mosrun -b) the node with
 * the most spare CPU now; with -m, only among nodes that report that much free memory; and only
 * where the CPU has every feature the program's CPU has (cpu-compat.ts).
 */
import { GodwitError, type Node } from '@godwit/schemas';
import { type CpuEnd, cpuEndOf, cpuFits, cpuMismatch, requireCpuFits } from './cpu-compat.js';

export interface PlacementRequest {
  /** the node asked for, if any */
  node?: string;
  home: string;
  best?: boolean;
  memMiB?: number;
  /**
   * the CPU it needs: a new program its home node's (it must be able to go home), a recovered
   * one the CPU its checkpoint was taken on, a moved one the CPU it runs on
   */
  cpu?: { program: string; from: CpuEnd };
}

const MIB = 1024 * 1024;

/** spare CPUs over capacity, 0..1; an idle node of any size is 1 */
function spare(n: Node): number {
  if (!n.load || n.load.cpuCapacity <= 0) return 0;
  return Math.max(0, n.load.cpuCapacity - n.load.cpuUsed) / n.load.cpuCapacity;
}

function describe(n: Node): string {
  return n.load ? `${n.name} ${Math.floor(n.load.memFreeBytes / MIB)} MiB free` : `${n.name} no load reported yet`;
}

/** `nodes`: the online ones. Throws why none fits. */
export function place(nodes: Node[], req: PlacementRequest): string {
  if (req.best && req.node) {
    throw new GodwitError('GODWIT_ERR_BAD_REQUEST', 'choose either a node to start on or the best node (-b), not both');
  }
  const named = req.node ?? req.home;
  const drained = nodes.find((n) => n.name === named && n.drained);
  if (!req.best && drained) {
    throw new GodwitError('GODWIT_ERR_NODE_DRAINED', `node ${named} is drained: nothing new starts there until \`mosctl undrain ${named}\`; start it elsewhere (-r NODE or -b)`, { node: named });
  }
  const cpu = req.cpu;
  if (!req.best && cpu) requireCpuFits(cpu.program, cpu.from, cpuEndOf(nodes, named), 'nothing was started');
  const usable = req.best ? nodes.filter((n) => !n.drained) : nodes.filter((n) => n.name === named);
  const wanted = cpu ? usable.filter((n) => cpuFits(cpu.from, n)) : usable;
  if (wanted.length === 0 && usable.length > 0) {
    throw new GodwitError('GODWIT_ERR_CPU_INCOMPATIBLE', `no node's CPU fits: ${usable.map((n) => cpuMismatch(cpu!.program, cpu!.from, n)).join('; ')}; nothing was started`, {});
  }
  if (wanted.length === 0) {
    throw new GodwitError('GODWIT_ERR_NODE_OFFLINE', `node ${req.node ?? req.home} is offline: its agent is not connected; run on another node`, {
      node: req.node ?? req.home,
    });
  }
  const fit = req.memMiB === undefined ? wanted : wanted.filter((n) => n.load !== null && n.load.memFreeBytes >= req.memMiB! * MIB);
  if (fit.length === 0) {
    throw new GodwitError(
      'GODWIT_ERR_NO_NODE_FITS',
      `no ${req.best ? 'node' : `node among ${wanted.map((n) => n.name).join(', ')}`} has ${req.memMiB} MiB of free memory (${wanted.map(describe).join('; ')}); nothing was started`,
      { memMiB: req.memMiB },
    );
  }
  // most spare CPU first, then fewest programs, then the order of the cluster's node list
  const ranked = [...fit].sort((a, b) => spare(b) - spare(a) || (a.load?.running ?? 0) - (b.load?.running ?? 0));
  return ranked[0]!.name;
}
