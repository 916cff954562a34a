// http/client/proxy.ts
//
// Going through an HTTP proxy. An http:// URL is asked of the proxy itself, in absolute form
// (`GET http://host/path HTTP/1.1`); an https:// URL goes through a CONNECT tunnel, and TLS
// with the origin then starts on the tunnel (ByteStream.startTls), so the proxy sees only
// ciphertext.
//
// Invariants:
// - The proxy URL is http:// (a TLS connection to the proxy itself is not supported); its
//   user and password, when present, are sent as `Proxy-Authorization: Basic ...` to the proxy
//   only (never through the tunnel to the origin).
// - The CONNECT's response is read to the end of its head and not one byte further: the
//   origin's TLS handshake has not begun (the proxy forwards nothing before our ClientHello),
//   so nothing read is lost when TLS takes the stream over.

import { EndOfMessage, HttpConnection, NEED_DATA, Request as RequestEvent } from '@curio-ts/proto-http';
import { ConnectionError, InvalidArgumentError } from '../../errors.js';
import type { ByteStream, TlsOptions } from '../../runtime.js';

/** A parsed proxy: where to connect, and the credentials to send it. */
export interface ProxyTarget {
  readonly url: URL;
  readonly host: string;
  readonly port: number;
  /** `Basic ...`, or null. */
  readonly authorization: string | null;
}

/** Parse the `proxy` option. */
export function parseProxy(proxy: string | URL): ProxyTarget {
  let url: URL;
  try {
    url = new URL(proxy);
  } catch {
    throw new InvalidArgumentError(`bad proxy URL ${JSON.stringify(String(proxy))}`, 'ERR_BAD_ARGUMENT');
  }
  if (url.protocol !== 'http:') throw new InvalidArgumentError(`unsupported proxy scheme ${url.protocol} (http: only)`, 'ERR_BAD_ARGUMENT');
  const authorization = url.username === '' ? null : `Basic ${btoa(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`)}`;
  return { url, host: hostOf(url), port: url.port === '' ? 80 : Number(url.port), authorization };
}

/** The URL's host for connecting (IPv6 without its brackets). */
export function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** The URL's port, or its scheme's default. */
export function portOf(url: URL): number {
  return url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
}

const END = new EndOfMessage();

/**
 * Open a CONNECT tunnel to `url`'s origin through the proxy connection `stream`, and start TLS
 * on it. Rejects with a ConnectionError (code ERR_PROXY_TUNNEL) when the proxy refuses.
 */
export async function tunnelTls(stream: ByteStream, url: URL, proxy: ProxyTarget, tls: TlsOptions): Promise<ByteStream> {
  const authority = `${url.hostname}:${portOf(url)}`;
  const conn = new HttpConnection('client');
  try {
    const headers: [string, string][] = [['Host', authority]];
    if (proxy.authorization !== null) headers.push(['Proxy-Authorization', proxy.authorization]);
    const head = conn.send(new RequestEvent('CONNECT', authority, headers)) as Uint8Array;
    conn.send(END);
    await stream.write(head);
    for (;;) {
      const event = conn.nextEvent();
      if (event === NEED_DATA) {
        const chunk = await stream.read();
        if (chunk === null || chunk.length === 0) throw new ConnectionError(`the proxy ${proxy.url.host} closed the connection before answering CONNECT`, 'ERR_PROXY_TUNNEL');
        conn.receiveData(chunk);
        continue;
      }
      if (typeof event === 'symbol' || event.type === 'informational-response') continue;
      if (event.type !== 'response') throw new ConnectionError(`the proxy ${proxy.url.host} sent ${event.type} instead of answering CONNECT`, 'ERR_PROXY_TUNNEL');
      if (event.status < 200 || event.status >= 300) throw new ConnectionError(`the proxy ${proxy.url.host} refused the tunnel to ${authority}: ${event.status} ${event.reason}`, 'ERR_PROXY_TUNNEL');
      if ((conn.trailingData?.data.length ?? 0) > 0) throw new ConnectionError(`the proxy ${proxy.url.host} sent bytes before the TLS handshake`, 'ERR_PROXY_TUNNEL');
      break;
    }
  } catch (error) {
    stream.close();
    throw error;
  } finally {
    conn.destroy();
  }
  if (stream.startTls === undefined) {
    stream.close();
    throw new ConnectionError('this runtime cannot start TLS on an open connection (ByteStream.startTls)', 'ERR_PROXY_TUNNEL');
  }
  return stream.startTls({ side: 'client', ...tls, ...(tls.serverName === undefined ? { serverName: hostOf(url) } : {}) });
}
