// curio-tls.ts
//
// The Runtime's TLS options (plain data, client package) as the node:tls options the kernel
// takes, for connecting, listening and upgrading.

import { isIP } from 'node:net';
import * as tls from 'node:tls';
import type { TlsOptions, TlsServerOptions } from '@curio-ts/client';

function caOption(ca: string | readonly string[] | undefined): { ca?: string | string[] } {
  return ca === undefined ? {} : { ca: typeof ca === 'string' ? ca : [...ca] };
}

function alpnOption(protocols: readonly string[] | undefined): { ALPNProtocols?: string[] } {
  return protocols === undefined ? {} : { ALPNProtocols: [...protocols] };
}

/**
 * Client options (the server name goes separately, as the kernel's `serverHostname`). The
 * certificate is checked against `serverName`, else `host`, an IP address included; against
 * nothing with `checkServerName: false` (the chain is still checked).
 */
export function clientTls(options: TlsOptions, host: string | undefined): tls.ConnectionOptions {
  const name = options.serverName ?? host;
  return {
    ...(options.checkServerName === false
      ? { checkServerIdentity: () => undefined }
      : name === undefined
        ? {}
        : { checkServerIdentity: (_hostname: string, certificate: tls.PeerCertificate) => tls.checkServerIdentity(name, certificate) }),
    ...caOption(options.ca),
    ...alpnOption(options.alpnProtocols),
    ...(options.cert !== undefined ? { cert: options.cert } : {}),
    ...(options.key !== undefined ? { key: options.key } : {}),
    rejectUnauthorized: options.rejectUnauthorized ?? true,
  };
}

/** Server options. */
export function serverTls(options: TlsServerOptions): tls.TlsOptions {
  return {
    cert: options.cert,
    key: options.key,
    ...caOption(options.ca),
    ...alpnOption(options.alpnProtocols),
    requestCert: options.requestCert ?? false,
    rejectUnauthorized: options.rejectUnauthorized ?? true,
  };
}

/** The name to send in SNI and check the certificate against: a DNS name, never an IP address. */
export function sniName(serverName: string | undefined, host: string | undefined): { serverHostname?: string } {
  const name = serverName ?? host;
  return name !== undefined && isIP(name) === 0 ? { serverHostname: name } : {};
}
