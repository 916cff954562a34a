// conformance/certs.ts
//
// Test certificates made with the openssl CLI into a temporary directory: a CA, a server
// certificate for localhost / 127.0.0.1 and a client certificate, both signed by the CA, as
// PEM for the runtimes and as DER files on disk (what a peer certificate must equal: SCRAM's
// channel binding hashes exactly these bytes).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Make a CA and two certificates signed by it (EC P-256, valid 2 days). */
export function makeTestCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'curio-certs-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=curio-ts conformance CA', '-days', '2'], dir);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  for (const [name, subject, ext] of [
    ['server', '/CN=localhost', 'server.ext'],
    ['client', '/CN=curio-ts client', null],
  ] as const) {
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
    openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', ...(ext === null ? [] : ['-extfile', ext])],
      dir,
    );
    openssl(['x509', '-in', `${name}.crt`, '-outform', 'der', '-out', `${name}.der`], dir);
  }
  const text = (name: string): string => readFileSync(join(dir, name), 'utf8');
  return {
    dir,
    ca: text('ca.crt'),
    serverCert: text('server.crt'),
    serverKey: text('server.key'),
    clientCert: text('client.crt'),
    clientKey: text('client.key'),
    serverDer: new Uint8Array(readFileSync(join(dir, 'server.der'))),
    clientDer: new Uint8Array(readFileSync(join(dir, 'client.der'))),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
