// scram.ts
//
// The password methods of PostgreSQL authentication, computed here with node:crypto: the MD5
// password hash, and a SCRAM-SHA-256 client (RFC 5802, RFC 7677), with channel binding
// (SCRAM-SHA-256-PLUS, type tls-server-end-point, RFC 5929) when the caller gives the binding
// data (the hash of the server's certificate, which only the TLS layer knows).
//
// Invariants:
// - The server's nonce must extend ours, its iteration count must be within bounds, and its
//   final signature must equal the one computed from the password: otherwise a
//   PgAuthenticationError (ERR_PG_SCRAM_*), never a silent success. A server that sends
//   AuthenticationOk before its SCRAM final message is refused by connection.ts.
// - The password is prepared with SASLprep (saslprep.ts) and used as its UTF-8 bytes; when
//   SASLprep prohibits the result, the password is used as given, as libpq does (and as the
//   server did when it made the verifier).

import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { PgAuthenticationError } from './errors.js';
import { saslprep } from './saslprep.js';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** The response to AuthenticationMD5Password: 'md5' + md5(md5(password + user) + salt), in hex. */
export function md5Password(user: string, password: string, salt: Uint8Array): string {
  const inner = createHash('md5').update(password).update(user).digest('hex');
  return 'md5' + createHash('md5').update(inner).update(salt).digest('hex');
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const BASE64_VALUE = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) BASE64_VALUE[BASE64.charCodeAt(i)] = i;

/** Standard base64 with padding. */
export function base64Encode(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number);
    out += BASE64.charAt(n >> 18) + BASE64.charAt((n >> 12) & 63) + BASE64.charAt((n >> 6) & 63) + BASE64.charAt(n & 63);
  }
  if (i + 1 === bytes.length) {
    const n = (bytes[i] as number) << 16;
    out += BASE64.charAt(n >> 18) + BASE64.charAt((n >> 12) & 63) + '==';
  } else if (i + 2 === bytes.length) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8);
    out += BASE64.charAt(n >> 18) + BASE64.charAt((n >> 12) & 63) + BASE64.charAt((n >> 6) & 63) + '=';
  }
  return out;
}

/** Strict standard base64 (padding required); null when `text` is not base64. */
export function base64Decode(text: string): Uint8Array | null {
  if (text.length % 4 !== 0) return null;
  let padding = 0;
  if (text.endsWith('==')) padding = 2;
  else if (text.endsWith('=')) padding = 1;
  const out = new Uint8Array((text.length / 4) * 3 - padding);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    const values = [0, 1, 2, 3].map((k) => {
      const code = text.charCodeAt(i + k);
      if (last && code === 0x3d && k >= 4 - padding) return 0;
      return code < 256 ? (BASE64_VALUE[code] as number) : -1;
    });
    if (values.some((v) => v < 0)) return null;
    const n = ((values[0] as number) << 18) | ((values[1] as number) << 12) | ((values[2] as number) << 6) | (values[3] as number);
    if (o < out.length) out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 0xff;
    if (o < out.length) out[o++] = n & 0xff;
  }
  return out;
}

/** The SCRAM mechanisms spoken here. */
export type ScramMechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-256-PLUS';

/** Options of {@link ScramClient}. */
export interface ScramOptions {
  /** The mechanisms the server offered (AuthenticationSASL). */
  readonly mechanisms: readonly string[];
  /**
   * tls-server-end-point binding data (the certificate hash), or null on a plain connection:
   * with it, SCRAM-SHA-256-PLUS is chosen when the server offers it.
   */
  readonly channelBinding?: Uint8Array | null;
  /** The user name sent in the client-first message (PostgreSQL ignores it and sends ''). */
  readonly username?: string;
  /** The client nonce (printable, no ','): for tests only; random by default. */
  readonly nonce?: string;
  /** Refuse a server asking more PBKDF2 iterations than this (default 1 000 000). */
  readonly maxIterations?: number;
}

/**
 * One SCRAM-SHA-256(-PLUS) exchange, client side: `clientFirst()`, then `clientFinal(serverFirst)`,
 * then `verifyServerFinal(serverFinal)`. Messages are strings as RFC 5802 writes them.
 */
export class ScramClient {
  /** The mechanism chosen from those the server offered. */
  readonly mechanism: ScramMechanism;
  private readonly gs2Header: string;
  private readonly binding: Uint8Array | null;
  private readonly nonce: string;
  private readonly clientFirstBare: string;
  private readonly maxIterations: number;
  private expectedServerSignature: Uint8Array | null = null;
  private serverVerified = false;

  constructor(
    private readonly password: string,
    options: ScramOptions,
  ) {
    const binding = options.channelBinding ?? null;
    const offersPlus = options.mechanisms.includes('SCRAM-SHA-256-PLUS');
    const offersPlain = options.mechanisms.includes('SCRAM-SHA-256');
    if (binding !== null && offersPlus) {
      this.mechanism = 'SCRAM-SHA-256-PLUS';
      this.gs2Header = 'p=tls-server-end-point,,';
      this.binding = binding;
    } else if (offersPlain) {
      this.mechanism = 'SCRAM-SHA-256';
      // 'y': we support channel binding but think the server does not (RFC 5802 §6).
      this.gs2Header = binding !== null ? 'y,,' : 'n,,';
      this.binding = null;
    } else if (offersPlus) {
      throw new PgAuthenticationError('the server offers only SCRAM-SHA-256-PLUS, which needs channel binding data (a TLS connection)', 'ERR_PG_CHANNEL_BINDING_REQUIRED');
    } else {
      throw new PgAuthenticationError(`no supported SASL mechanism among ${options.mechanisms.join(', ') || '(none)'}`, 'ERR_PG_AUTH_UNSUPPORTED');
    }
    this.nonce = options.nonce ?? base64Encode(randomBytes(18));
    this.maxIterations = options.maxIterations ?? 1_000_000;
    this.clientFirstBare = `n=${saslName(options.username ?? '')},r=${this.nonce}`;
  }

  /** The client-first-message. */
  clientFirst(): string {
    return this.gs2Header + this.clientFirstBare;
  }

  /** Given the server-first-message, the client-final-message (with the proof). */
  clientFinal(serverFirst: string): string {
    const attributes = parseAttributes(serverFirst);
    const serverNonce = attributes.get('r');
    const saltText = attributes.get('s');
    const iterationText = attributes.get('i');
    if (attributes.has('m')) throw new PgAuthenticationError('the server asks for a SCRAM extension (m=)', 'ERR_PG_SCRAM_BAD_MESSAGE');
    if (serverNonce === undefined || saltText === undefined || iterationText === undefined) {
      throw new PgAuthenticationError(`malformed SCRAM server-first-message: ${JSON.stringify(serverFirst)}`, 'ERR_PG_SCRAM_BAD_MESSAGE');
    }
    if (!serverNonce.startsWith(this.nonce) || serverNonce.length === this.nonce.length) {
      throw new PgAuthenticationError("the server's SCRAM nonce does not extend ours", 'ERR_PG_SCRAM_NONCE');
    }
    const salt = base64Decode(saltText);
    if (salt === null || salt.length === 0) throw new PgAuthenticationError('malformed SCRAM salt', 'ERR_PG_SCRAM_BAD_MESSAGE');
    if (!/^[1-9]\d{0,9}$/.test(iterationText)) throw new PgAuthenticationError(`malformed SCRAM iteration count ${JSON.stringify(iterationText)}`, 'ERR_PG_SCRAM_BAD_MESSAGE');
    const iterations = Number(iterationText);
    if (iterations > this.maxIterations) {
      throw new PgAuthenticationError(`the server asks ${iterations} SCRAM iterations (limit ${this.maxIterations})`, 'ERR_PG_SCRAM_ITERATIONS');
    }

    const header = utf8Encoder.encode(this.gs2Header);
    const cbind = this.binding === null ? header : concat(header, this.binding);
    const finalWithoutProof = `c=${base64Encode(cbind)},r=${serverNonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${finalWithoutProof}`;

    const saltedPassword = pbkdf2Sync(utf8Encoder.encode(saslprep(this.password) ?? this.password), salt, iterations, 32, 'sha256');
    const clientKey = createHmac('sha256', saltedPassword).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const clientSignature = createHmac('sha256', storedKey).update(authMessage).digest();
    const proof = new Uint8Array(clientKey.length);
    for (let i = 0; i < proof.length; i++) proof[i] = (clientKey[i] as number) ^ (clientSignature[i] as number);
    const serverKey = createHmac('sha256', saltedPassword).update('Server Key').digest();
    this.expectedServerSignature = createHmac('sha256', serverKey).update(authMessage).digest();
    return `${finalWithoutProof},p=${base64Encode(proof)}`;
  }

  /** Check the server-final-message: its signature must be the one the password gives. */
  verifyServerFinal(serverFinal: string): void {
    const expected = this.expectedServerSignature;
    if (expected === null) throw new PgAuthenticationError('SCRAM server-final-message before server-first', 'ERR_PG_SCRAM_BAD_MESSAGE');
    const attributes = parseAttributes(serverFinal);
    const error = attributes.get('e');
    if (error !== undefined) throw new PgAuthenticationError(`SCRAM authentication refused by the server: ${error}`, 'ERR_PG_SCRAM_REFUSED');
    const signature = base64Decode(attributes.get('v') ?? '');
    if (signature === null || signature.length !== expected.length) {
      throw new PgAuthenticationError(`malformed SCRAM server-final-message: ${JSON.stringify(serverFinal)}`, 'ERR_PG_SCRAM_BAD_MESSAGE');
    }
    let difference = 0;
    for (let i = 0; i < expected.length; i++) difference |= (expected[i] as number) ^ (signature[i] as number);
    if (difference !== 0) throw new PgAuthenticationError("the server's SCRAM signature is wrong: it does not know the password", 'ERR_PG_SCRAM_SERVER_SIGNATURE');
    this.serverVerified = true;
  }

  /** Whether the server's final message was verified. */
  get verified(): boolean {
    return this.serverVerified;
  }
}

/** A SCRAM message's attributes (a=value,...); the first occurrence of each wins. */
function parseAttributes(message: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const part of message.split(',')) {
    if (part.length < 2 || part[1] !== '=') continue;
    const name = part[0] as string;
    if (!attributes.has(name)) attributes.set(name, part.slice(2));
  }
  return attributes;
}

/** RFC 5802 saslname: ',' and '=' escaped. */
function saslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Decode the UTF-8 bytes of a SASL message. */
export function saslText(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

/** Encode a SASL message as UTF-8. */
export function saslBytes(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}
