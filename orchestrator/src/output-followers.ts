/**
 * Who follows each process's output now, and how far each has written it out. A follower that
 * attached (mosrun, `godwit attach`: GET .../output?follow=true&attach=true) is the program's
 * foreground, and says how far it has written (POST .../output/written, as mosrun does every few
 * KiB): the output relay stores no further than a short lead ahead of the slowest attached
 * follower (back-pressure from mosrun's stdout to the program, as a pipe gives), and an attached
 * program whose last attached follower is gone gets SIGHUP (hangup.ts). Until then it waits for
 * one to come (back) where the last left (at 0 before the first comes, after a restart), as a
 * local program waits while its terminal is slow. Followers that did not
 * attach (a scheduler reading the kept output) hold nothing back. Kept in memory: a restarted
 * orchestrator has none until they reconnect.
 */
export interface Follower {
  leave(): void;
}

export interface OutputFollowers {
  join(id: number, opts: { attach: boolean; offset: number }): Follower;
  /** the attached followers of the process have written its output up to this payload offset */
  written(id: number, offset: number): void;
  /** attached followers of the process now */
  attachedCount(id: number): number;
  /** how far the slowest attached follower has written; undefined without one */
  slowestAttached(id: number): number | undefined;
  /** how far the last attached follower had written when it left; undefined if none ever did */
  lastLeft(id: number): number | undefined;
  /** the process has ended: nothing of it is needed any more */
  forget(id: number): void;
}

interface Entry {
  attach: boolean;
  offset: number;
}

/** changed(id): a follower of process id came, went or moved on */
export function createOutputFollowers(changed: (id: number) => void): OutputFollowers {
  const byProcess = new Map<number, Set<Entry>>();
  const leftAt = new Map<number, number>();
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
        leave() {
          if (left) return;
          left = true;
          set.delete(entry);
          if (entry.attach && ![...set].some((e) => e.attach)) leftAt.set(id, entry.offset);
          if (set.size === 0 && byProcess.get(id) === set) byProcess.delete(id);
          changed(id);
        },
      };
    },
    written(id, offset) {
      const moved = attachedOf(id).filter((e) => e.offset < offset);
      for (const e of moved) e.offset = offset;
      if (moved.length) changed(id);
    },
    attachedCount: (id) => attachedOf(id).length,
    slowestAttached(id) {
      const offsets = attachedOf(id).map((e) => e.offset);
      return offsets.length ? Math.min(...offsets) : undefined;
    },
    lastLeft: (id) => leftAt.get(id),
    forget: (id) => void leftAt.delete(id),
  };
}
