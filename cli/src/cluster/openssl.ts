/**
 * The one wrapper of the `openssl` tool: keys and certificates for a cluster's CA, orchestrator
 * and nodes. Every X.509 structure is openssl's own; godwit only names what goes in.
 */
import { execa } from 'execa';
import { CliError } from '../errors.js';

const TIMEOUT_MS = 30_000;

async function openssl(args: string[]): Promise<void> {
  const r = await execa('openssl', args, { reject: false, timeout: TIMEOUT_MS, stdin: 'ignore' });
  if (r.exitCode === undefined && !r.timedOut) throw new CliError(`cannot run openssl (Debian: apt-get install openssl): ${r.shortMessage}`);
  if (r.exitCode !== 0 || r.failed) {
    const why = (r.stderr || r.stdout || r.shortMessage || `exit ${r.exitCode}`).trim();
    throw new CliError(`\`openssl ${args.join(' ')}\` failed: ${why}`);
  }
}

/** a P-256 private key (PEM, PKCS#8) written to `keyFile` */
export async function makeKey(keyFile: string): Promise<void> {
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile]);
}

/** a self-signed CA certificate for `keyFile` */
export async function makeCa(o: { keyFile: string; certFile: string; name: string; days: number }): Promise<void> {
  await openssl([
    'req', '-new', '-x509', '-key', o.keyFile, '-out', o.certFile, '-days', String(o.days), '-subj', `/CN=${o.name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

export interface LeafRequest {
  /** the key the certificate is for */
  keyFile: string;
  certFile: string;
  /** its CN: the node's name, or "orchestrator" */
  name: string;
  /** its subjectAltName: DNS names and IP addresses it is reached at */
  dns: readonly string[];
  ips: readonly string[];
  ca: { keyFile: string; certFile: string };
  days: number;
}

/** a certificate signed by the CA, good as server and as client (TLS both ways, mutual) */
export async function makeLeaf(o: LeafRequest): Promise<void> {
  const san = [...o.dns.map((d) => `DNS:${d}`), ...o.ips.map((ip) => `IP:${ip}`)].join(',');
  await openssl([
    'req', '-new', '-x509', '-key', o.keyFile, '-out', o.certFile, '-days', String(o.days), '-subj', `/CN=${o.name}`,
    '-CA', o.ca.certFile, '-CAkey', o.ca.keyFile,
    '-addext', `subjectAltName=${san}`, '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', 'keyUsage=critical,digitalSignature', '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
  ]);
}
