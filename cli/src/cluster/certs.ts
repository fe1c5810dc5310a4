/**
 * A local cluster's TLS: its own CA, a certificate for the orchestrator (SAN: its address) and
 * one per node (CN and SAN: the node's name and address), which is both the agent's server
 * certificate and its client certificate toward the orchestrator and the other agents. Made
 * afresh at every `up` under $GODWIT_HOME/tls, keys 0600.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ORCHESTRATOR_CN, type TlsFiles } from '@godwit/schemas';
import { makeCa, makeKey, makeLeaf } from './openssl.js';

/** long enough for any local cluster; a deployment makes its own (deploy/README.md) */
const DAYS = 825;

export interface ClusterCerts {
  caFile: string;
  orchestrator: TlsFiles;
  nodes: Map<string, TlsFiles>;
}

/** Makes the CA and every certificate in `dir` (emptied first). */
export async function makeClusterCerts(dir: string, o: { orchestratorAddress: string; nodes: readonly { name: string; address: string }[] }): Promise<ClusterCerts> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = { keyFile: path.join(dir, 'ca.key'), certFile: path.join(dir, 'ca.crt') };
  // keys are made 0600 by the umask, never readable by anyone else for an instant
  const before = process.umask(0o077);
  try {
    await makeKey(ca.keyFile);
    await makeCa({ ...ca, name: 'godwit cluster CA', days: DAYS });
    const leaf = async (name: string, address: string): Promise<TlsFiles> => {
      const files = { caFile: ca.certFile, certFile: path.join(dir, `${name}.crt`), keyFile: path.join(dir, `${name}.key`) };
      await makeKey(files.keyFile);
      await makeLeaf({ keyFile: files.keyFile, certFile: files.certFile, name, dns: [name], ips: [address], ca, days: DAYS });
      return files;
    };
    const orchestrator = await leaf(ORCHESTRATOR_CN, o.orchestratorAddress);
    const nodes = new Map<string, TlsFiles>();
    for (const n of o.nodes) nodes.set(n.name, await leaf(n.name, n.address));
    // certificates are public: the CA's, at least, is read by every client
    for (const f of fs.readdirSync(dir)) if (f.endsWith('.crt')) fs.chmodSync(path.join(dir, f), 0o644);
    return { caFile: ca.certFile, orchestrator, nodes };
  } finally {
    process.umask(before);
  }
}
