// conformance/certs.ts
//
// Test certificates made with the openssl CLI into a temporary directory: a CA, and
// certificates signed by it, as PEM for the runtimes and as DER files on disk (what a peer
// certificate must equal: SCRAM's channel binding hashes exactly these bytes).
// `makeTestCertificates` is the usual set (a server certificate for localhost / 127.0.0.1 and
// a client certificate); `makeTestCa` keeps the CA to sign certificates for any names (several
// servers under one CA, a certificate that names another host, a second CA nobody trusts).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Certificates for TLS tests. */
export interface TestCertificates {
  /** The directory holding the files (ca.crt, server.crt, server.key, client.crt, client.key, *.der). */
  readonly dir: string;
  /** The CA certificate (PEM). */
  readonly ca: string;
  /** The server's certificate and key (PEM), for localhost and 127.0.0.1. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** The client's certificate and key (PEM). */
  readonly clientCert: string;
  readonly clientKey: string;
  /** The server's and the client's certificates in DER form, read back from the .der files. */
  readonly serverDer: Uint8Array;
  readonly clientDer: Uint8Array;
  /** Remove the directory. */
  remove(): void;
}

/** A certificate signed by a {@link TestCa}. */
export interface IssuedCertificate {
  /** Certificate and key (PEM). */
  readonly cert: string;
  readonly key: string;
  /** The certificate in DER form. */
  readonly der: Uint8Array;
  /** The files (inside the CA's directory), for servers that read them. */
  readonly certFile: string;
  readonly keyFile: string;
}

/** A test CA that signs certificates on demand. */
export interface TestCa {
  /** The directory holding the CA's files and every certificate it issued. */
  readonly dir: string;
  /** The CA certificate (PEM): what a client trusts (libpq's sslrootcert). */
  readonly ca: string;
  /**
   * A certificate (EC P-256, valid 2 days) whose subject alternative names are `names` (an IP
   * address as IP:, anything else as DNS:; the first is also the CN); with no names, a client
   * certificate (CN `subject`).
   */
  issue(names: readonly string[], subject?: string): IssuedCertificate;
  /** Remove the directory. */
  remove(): void;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Make a CA (EC P-256, valid 2 days) in a new temporary directory. */
export function makeTestCa(commonName = 'curio-ts conformance CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'curio-certs-'));
  openssl(['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', `/CN=${commonName}`, '-days', '2'], dir);
  let issued = 0;
  return {
    dir,
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    issue(names, subject) {
      const name = `cert${issued++}`;
      const cn = subject ?? names[0] ?? 'curio-ts client';
      let ext: string[] = [];
      if (names.length > 0) {
        writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${names.map((n) => (isIP(n) === 0 ? `DNS:${n}` : `IP:${n}`)).join(',')}\n`);
        ext = ['-extfile', `${name}.ext`];
      }
      openssl(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', ...ext], dir);
      openssl(['x509', '-in', `${name}.crt`, '-outform', 'der', '-out', `${name}.der`], dir);
      return {
        cert: readFileSync(join(dir, `${name}.crt`), 'utf8'),
        key: readFileSync(join(dir, `${name}.key`), 'utf8'),
        der: new Uint8Array(readFileSync(join(dir, `${name}.der`))),
        certFile: join(dir, `${name}.crt`),
        keyFile: join(dir, `${name}.key`),
      };
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Make a CA and two certificates signed by it (EC P-256, valid 2 days). */
export function makeTestCertificates(): TestCertificates {
  const ca = makeTestCa();
  const server = ca.issue(['localhost', '127.0.0.1']);
  const client = ca.issue([], 'curio-ts client');
  // The usual file names, for callers that read them from `dir`.
  for (const [name, issued] of [
    ['server', server],
    ['client', client],
  ] as const) {
    writeFileSync(join(ca.dir, `${name}.crt`), issued.cert);
    writeFileSync(join(ca.dir, `${name}.key`), issued.key);
    writeFileSync(join(ca.dir, `${name}.der`), issued.der);
  }
  return {
    dir: ca.dir,
    ca: ca.ca,
    serverCert: server.cert,
    serverKey: server.key,
    clientCert: client.cert,
    clientKey: client.key,
    serverDer: server.der,
    clientDer: client.der,
    remove: ca.remove,
  };
}
