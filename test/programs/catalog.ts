// The real programs the integration tests migrate, and what each must print when it ends.
//
// argv[0] is relative to the repository root; "{tmp}" in any element stands for a scratch directory
// the test creates (use resolveArgv). The C programs are built by `make -C test/programs` into
// test/programs/bin/. Match `expect` against each line of the program's stdout (all epochs
// concatenated): exactly one line must match. Runtimes are for an unloaded x86-64 core and no
// migration; each program prints a progress line at least every second (stdin_echo only when fed).

export interface TestProgram {
  /** short name, also the file name */
  readonly name: string;
  /** command line; argv[0] relative to the repository root; "{tmp}" = the test's scratch directory */
  readonly argv: readonly string[];
  /** the result line, matched against single lines of stdout */
  readonly expect: RegExp;
  /** the exit status it must end with */
  readonly exitCode: number;
  /** about how long it runs without migrations, in seconds */
  readonly seconds: number;
  /** true for the C programs, which need `make -C test/programs` first */
  readonly needsBuild: boolean;
  /** what to write to its stdin before closing it (only stdin_echo reads stdin) */
  readonly input?: string;
  /** what it exercises */
  readonly about: string;
}

export const programs: readonly TestProgram[] = [
  {
    name: 'counter',
    argv: ['test/programs/counter', '100'],
    expect: /^result=counted 100$/,
    exitCode: 0,
    seconds: 11,
    needsBuild: false,
    about: 'bash: prints 1..100, one line per 100 ms (an external sleep child each time)',
  },
  {
    name: 'exit7',
    argv: ['test/programs/exit7', '10'],
    expect: /^result=exiting with 7$/,
    exitCode: 7,
    seconds: 10,
    needsBuild: false,
    about: 'bash: "tick 1".."tick 20" every 0.5 s, then exit status 7',
  },
  {
    name: 'busyloop',
    argv: ['test/programs/bin/busyloop', '8000000000'],
    expect: /^result=x:8c9369cb5046d001,sum:9584c4d7b6f4e800$/,
    exitCode: 0,
    seconds: 10,
    needsBuild: true,
    about: 'C: pure CPU (64-bit LCG, 8e9 steps); `busyloop --expect N` computes the answer in O(log N)',
  },
  {
    name: 'threads4',
    argv: ['test/programs/bin/threads4', '100'],
    expect: /^result=dbb429992bda758a$/,
    exitCode: 0,
    seconds: 12,
    needsBuild: true,
    about: 'C: 4 pthreads + 2 barriers, each thread mixing its quarter of a 4 MiB array, 100 steps',
  },
  {
    name: 'pipepair',
    argv: ['test/programs/bin/pipepair', '1000'],
    expect: /^result=records=1000 sum=2147528226004$/,
    exitCode: 0,
    seconds: 12,
    needsBuild: true,
    about: 'C: producer -> pipe -> consumer (forked child), records in flight in the pipe at any time',
  },
  {
    name: 'sysvshm',
    argv: ['test/programs/bin/sysvshm', '1000'],
    expect: /^result=items=1000 sum=333833500$/,
    exitCode: 0,
    seconds: 12,
    needsBuild: true,
    about: 'C: producer/consumer processes over a SysV shm segment and a SysV semaphore pair',
  },
  {
    name: 'mapshared',
    argv: ['test/programs/bin/mapshared', '{tmp}', '100'],
    expect: /^result=steps=100 hash=1c91401973a8c827$/,
    exitCode: 0,
    seconds: 10,
    needsBuild: true,
    about: 'C: writes {tmp}/mapshared.dat through a MAP_SHARED mapping, then reads the file back',
  },
  {
    name: 'sqlite_writer.py',
    argv: ['test/programs/sqlite_writer.py', '{tmp}/writer.db', '100'],
    expect: /^result=rows=100 sum=338350$/,
    exitCode: 0,
    seconds: 11,
    needsBuild: false,
    about: 'python3 sqlite3, WAL mode: 100 committed inserts 100 ms apart (POSIX locks, mmapped -shm)',
  },
  {
    name: 'http_pair.js',
    argv: ['test/programs/http_pair.js', '0', '100'],
    expect: /^result=ok=100 connections=1$/,
    exitCode: 0,
    seconds: 11,
    needsBuild: false,
    about: 'node: HTTP server + client child on one keep-alive TCP connection over 127.0.0.1',
  },
  {
    name: 'selfmigrate.py',
    argv: ['test/programs/selfmigrate.py', 'node1'],
    expect: /^result=at node1 after 1 move\(s\)$/,
    exitCode: 3,
    seconds: 2,
    needsBuild: false,
    about: 'python3: moves itself to each argument through $GODWIT_CONTROL/migrate (after lock, needmem and a refused migrate), reads whereami and nmigs back',
  },
  {
    name: 'stdin_echo',
    argv: ['test/programs/stdin_echo'],
    expect: /^result=lines=4$/,
    exitCode: 0,
    seconds: 0,
    needsBuild: false,
    input: 'alpha\nbeta\ngamma\ndelta\n',
    about: 'bash: echoes stdin lines as "N: UPPER CASE" until EOF (result counts the lines fed)',
  },
];

/** The program's command line with argv[0] made absolute and "{tmp}" replaced by tmp. */
export function resolveArgv(program: TestProgram, repoRoot: string, tmp: string): string[] {
  return program.argv.map((a, i) => {
    const s = a.split('{tmp}').join(tmp);
    return i === 0 && !s.startsWith('/') ? `${repoRoot.replace(/\/+$/, '')}/${s}` : s;
  });
}

/** The program with this name; throws if there is none. */
export function program(name: string): TestProgram {
  const p = programs.find((q) => q.name === name);
  if (!p) throw new Error(`no test program named ${name}`);
  return p;
}
