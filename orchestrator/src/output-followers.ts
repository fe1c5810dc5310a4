/**
 * Who follows each process's output now, and how far each has written it out. A follower that
 * attached (mosrun, `godwit attach`: GET .../output?follow=true&attach=true) is the program's
 * foreground: the output relay stores no further than a short lead ahead of the slowest attached
 * follower (back-pressure from mosrun's stdout to the program, as a pipe gives), and an attached
 * program whose last attached follower is gone gets SIGHUP (hangup.ts). Followers that did not
 * attach (a scheduler reading the kept output) hold nothing back. Kept in memory: a restarted
 * orchestrator has none until they reconnect.
 */
export interface Follower {
  /** it has written the output up to this payload offset */
  at(offset: number): void;
  leave(): void;
}

export interface OutputFollowers {
  join(id: number, opts: { attach: boolean; offset: number }): Follower;
  /** attached followers of the process now */
  attachedCount(id: number): number;
  /** how far the slowest attached follower has written; undefined without one */
  slowestAttached(id: number): number | undefined;
}

interface Entry {
  attach: boolean;
  offset: number;
}

/** changed(id): a follower of process id came, went or moved on */
export function createOutputFollowers(changed: (id: number) => void): OutputFollowers {
  const byProcess = new Map<number, Set<Entry>>();
  const attachedOf = (id: number) => [...(byProcess.get(id) ?? [])].filter((e) => e.attach);

  return {
    join(id, { attach, offset }) {
      const entry: Entry = { attach, offset };
      let set = byProcess.get(id);
      if (!set) byProcess.set(id, (set = new Set()));
      set.add(entry);
      changed(id);
      let left = false;
      return {
        at(to) {
          if (left || to <= entry.offset) return;
          entry.offset = to;
          if (entry.attach) changed(id);
        },
        leave() {
          if (left) return;
          left = true;
          set.delete(entry);
          if (set.size === 0 && byProcess.get(id) === set) byProcess.delete(id);
          changed(id);
        },
      };
    },
    attachedCount: (id) => attachedOf(id).length,
    slowestAttached(id) {
      const offsets = attachedOf(id).map((e) => e.offset);
      return offsets.length ? Math.min(...offsets) : undefined;
    },
  };
}
