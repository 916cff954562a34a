// transport-pglite/frontend.ts
//
// What the transport must understand of the bytes a client writes, and nothing more: where each
// frontend message ends, which first packet it is (startup, SSLRequest, GSSENCRequest,
// CancelRequest), whether a query is a `COPY ... FROM STDIN`, and the few backend messages the
// transport answers itself (the 'N' to an SSLRequest, a FATAL ErrorResponse).
//
// Invariants:
// - Work is linear in the bytes given; a message longer than `maxMessageSize` is refused
//   (the connection is closed with a FATAL error), never buffered.
// - A COPY FROM STDIN is recognised after comments, string literals and quoted identifiers are
//   skipped, so `select 'copy t from stdin'` is not one.

/** Protocol codes of the first packet. */
export const PROTOCOL_3_0 = 196608;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Big-endian int32 at `at`. */
export function int32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) << 24) | ((bytes[at + 1] ?? 0) << 16) | ((bytes[at + 2] ?? 0) << 8) | (bytes[at + 3] ?? 0);
}

function putInt32(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value >>> 24;
  bytes[at + 1] = (value >>> 16) & 0xff;
  bytes[at + 2] = (value >>> 8) & 0xff;
  bytes[at + 3] = value & 0xff;
}

/** A typed message: its type byte, then int32 length, then `body` (length - 4 bytes). */
export function typedMessage(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = type.charCodeAt(0);
  putInt32(out, 1, body.length + 4);
  out.set(body, 5);
  return out;
}

/** An ErrorResponse with severity, SQLSTATE and message (and a hint). */
export function errorResponse(severity: 'ERROR' | 'FATAL', code: string, message: string, hint?: string): Uint8Array {
  const fields = [`S${severity}`, `V${severity}`, `C${code}`, `M${message}`, ...(hint === undefined ? [] : [`H${hint}`])];
  return typedMessage('E', encoder.encode(`${fields.join('\0')}\0\0`));
}

/** A simple-query message. */
export function queryMessage(sql: string): Uint8Array {
  return typedMessage('Q', encoder.encode(`${sql}\0`));
}

/**
 * Strip comments, string literals (plain, E'', dollar-quoted) and quoted identifiers from SQL,
 * keeping statement separators, so keywords can be looked for safely.
 */
export function sqlSkeleton(sql: string): string {
  let out = '';
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end;
      out += ' ';
    } else if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      out += ' ';
    } else if (c === "'" || c === '"') {
      i++;
      while (i < n) {
        if (sql[i] === '\\' && c === "'") i += 2; // E'' escapes; harmless for standard strings ending in a backslash only in odd SQL
        else if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2;
          else break;
        } else i++;
      }
      i++;
      out += c === '"' ? ' x ' : " '' ";
    } else if (c === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i, i + 64))?.[0];
      if (tag === undefined) {
        out += c;
        i++;
      } else {
        const end = sql.indexOf(tag, i + tag.length);
        i = end < 0 ? n : end + tag.length;
        out += " '' ";
      }
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

/** Whether any statement of `sql` is a COPY ... FROM STDIN. */
export function isCopyFromStdin(sql: string): boolean {
  return sqlSkeleton(sql)
    .split(';')
    .some((statement) => /^\s*copy\b/i.test(statement) && /\bfrom\s+stdin\b/i.test(statement));
}

/** What PGlite runs instead of a COPY FROM STDIN: the server itself raises the error, so transaction state stays right. */
export const COPY_FROM_STDIN_REFUSAL =
  "DO $curio_pglite$BEGIN RAISE EXCEPTION USING ERRCODE = 'feature_not_supported', " +
  "MESSAGE = 'COPY ... FROM STDIN is not supported through the PGlite transport (PGlite crashes on it)', " +
  "HINT = 'Insert the rows with INSERT, or use PGlite''s own query() with the blob option (COPY ... FROM ''/dev/blob'').'; END$curio_pglite$";

const refusalQuery = queryMessage(COPY_FROM_STDIN_REFUSAL);

/** The C string at `at` in `bytes` and the index after its NUL (-1 when unterminated). */
function cString(bytes: Uint8Array, at: number, end: number): [string, number] {
  let i = at;
  while (i < end && bytes[i] !== 0) i++;
  return i >= end ? ['', -1] : [decoder.decode(bytes.subarray(at, i)), i + 1];
}

/**
 * The message to send in place of `message` (a whole typed message): a Query or Parse that is a
 * COPY FROM STDIN becomes one that raises feature_not_supported; anything else is returned as is.
 */
export function refuseCopyFromStdin(message: Uint8Array): Uint8Array {
  const type = message[0];
  if (type === 0x51 /* Q */) {
    const [text] = cString(message, 5, message.length);
    return isCopyFromStdin(text) ? refusalQuery : message;
  }
  if (type === 0x50 /* P */) {
    const [name, afterName] = cString(message, 5, message.length);
    if (afterName < 0) return message;
    const [text] = cString(message, afterName, message.length);
    if (!isCopyFromStdin(text)) return message;
    return typedMessage('P', encoder.encode(`${name}\0${COPY_FROM_STDIN_REFUSAL}\0\0\0`));
  }
  return message;
}
