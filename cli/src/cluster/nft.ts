/** The one wrapper of `nft`: finding and removing the lock tables CRIU leaves behind. */
import { execa } from 'execa';
import { CliError } from '../errors.js';

export interface NftTable {
  family: string;
  name: string;
}

async function nft(args: string[]): Promise<string> {
  const r = await execa('nft', args, { reject: false, timeout: 15_000, stdin: 'ignore' });
  if (r.exitCode !== 0 || r.failed) throw new CliError(`\`nft ${args.join(' ')}\` failed: ${(r.stderr || r.shortMessage || `exit ${r.exitCode}`).trim()}`);
  return r.stdout;
}

export async function listTables(): Promise<NftTable[]> {
  const out = await nft(['list', 'tables']);
  return out
    .split('\n')
    .map((l) => /^table\s+(\S+)\s+(\S+)/.exec(l.trim()))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ family: m[1]!, name: m[2]! }));
}

export async function deleteTable(t: NftTable): Promise<void> {
  await nft(['delete', 'table', t.family, t.name]);
}
