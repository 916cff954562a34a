// ws-echo/handshake.ts
//
// The opening handshake of RFC 6455 (§4.2), server side: check a request that asks for a
// WebSocket, and the 101 response that accepts it (Sec-WebSocket-Accept, computed with SHA-1 as
// the RFC fixes). Pure: headers in, a verdict out.

import { createHash } from 'node:crypto';
import type { ServerRequest } from '@curio-ts/client';

/** The GUID every server appends to the client's key (RFC 6455 §1.3). */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** A base64 encoding of 16 bytes. */
const KEY = /^[A-Za-z0-9+/]{21}[AQgw]==$/;

/** Sec-WebSocket-Accept for the client's Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
}

/** What a request asking for a WebSocket gets: accepted (with the response headers), or refused with a status. */
export type HandshakeVerdict =
  | { readonly ok: true; readonly headers: readonly [string, string][] }
  | { readonly ok: false; readonly status: number; readonly reason: string; readonly headers: readonly [string, string][] };

/** Whether `request` asks to switch to WebSocket at all (an Upgrade header naming it). */
export function wantsWebSocket(request: ServerRequest): boolean {
  return hasToken(request.headers.get('upgrade'), 'websocket');
}

/** Check a WebSocket opening handshake (RFC 6455 §4.2.1). */
export function checkHandshake(request: ServerRequest): HandshakeVerdict {
  const refuse = (status: number, reason: string, headers: readonly [string, string][] = []): HandshakeVerdict => ({ ok: false, status, reason, headers });
  if (request.method !== 'GET') return refuse(400, 'a WebSocket handshake is a GET');
  if (request.httpVersion !== '1.1') return refuse(400, 'a WebSocket handshake needs HTTP/1.1');
  if (!hasToken(request.headers.get('upgrade'), 'websocket')) return refuse(400, 'Upgrade: websocket is missing');
  if (!hasToken(request.headers.get('connection'), 'upgrade')) return refuse(400, 'Connection: Upgrade is missing');
  const version = request.headers.get('sec-websocket-version');
  if (version?.trim() !== '13') return refuse(426, 'only WebSocket version 13 is supported', [['Sec-WebSocket-Version', '13']]);
  const key = request.headers.get('sec-websocket-key')?.trim() ?? '';
  if (!KEY.test(key)) return refuse(400, 'Sec-WebSocket-Key is not 16 bytes in base64');
  return {
    ok: true,
    headers: [
      ['Upgrade', 'websocket'],
      ['Connection', 'Upgrade'],
      ['Sec-WebSocket-Accept', acceptKey(key)],
    ],
  };
}

/** Whether a comma-separated header value holds `token` (case-insensitive). */
function hasToken(value: string | null, token: string): boolean {
  if (value === null) return false;
  return value.split(',').some((part) => part.trim().toLowerCase() === token);
}
