/**
 * better-sqlite3's statements are untyped: a query module states each one's parameters and rows
 * once, where its SQL is, and callers get them checked.
 */
import type Database from 'better-sqlite3';

type Params<P> = P extends unknown[] ? P : [P];

/** the part of a prepared statement used here, typed by its parameters P and rows R */
export interface Stmt<P, R> {
  run(...params: Params<P>): Database.RunResult;
  get(...params: Params<P>): R | undefined;
  all(...params: Params<P>): R[];
}

export type Prepare = <P extends unknown[] | object = [], R = unknown>(sql: string) => Stmt<P, R>;

export function preparer(db: Database.Database): Prepare {
  return <P extends unknown[] | object = [], R = unknown>(sql: string): Stmt<P, R> =>
    db.prepare(sql) as unknown as Stmt<P, R>;
}
