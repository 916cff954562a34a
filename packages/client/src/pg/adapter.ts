// pg/adapter.ts
//
// Postgres on the engine: the handshake of a new connection. The password is resolved first
// (a function is called for every connection: rotating tokens), then, unless sslmode is
// 'disable' (or the target is a unix socket), an SSLRequest: on 'S' the stream is upgraded
// with HandshakeContext.startTls, on 'N' the connection goes on in the clear for 'prefer' and
// fails for 'require', 'verify-ca' and 'verify-full'. Then the StartupMessage; authentication
// (cleartext, MD5, SCRAM-SHA-256) is answered inside the protocol object; the handshake ends at
// the first ReadyForQuery. Over TLS the startup's protocol object is given the certificate's
// tls-server-end-point hash, so SCRAM-SHA-256-PLUS binds the authentication to the TLS session.
//
// target_session_attrs (libpq's rules): after the startup, the server's ParameterStatus values
// in_hot_standby and default_transaction_read_only (reported at startup by PostgreSQL 14 and
// later) say whether it is a standby and whether its sessions are read-only by default; a
// server that reports neither is asked (`show transaction_read_only` for read-write/read-only,
// `select pg_catalog.pg_is_in_recovery()` for primary/standby). A server that does not match
// is sent a Terminate and the handshake fails with ERR_PG_TARGET_SESSION_ATTRS, so the engine
// goes on to the next host (prefer-standby: a first pass wanting a standby, then a second
// accepting any server; see pgRoutes in client.ts). TLS is negotiated per host: sslmode applies
// to each, the server name sent and checked is that host's (its `host`, also when the
// connection went to its hostaddr), and a unix socket never uses TLS. A host known only by its
// hostaddr has no name to check: verify-full fails it before the SSLRequest
// (ERR_PG_TLS_NO_HOST_NAME, as libpq), and the engine goes on to the next host.
//
// The startup parameters fix what the codecs read: DateStyle ISO, IntervalStyle postgres,
// client_encoding UTF8 (the codecs' text formats), besides application_name and the user's.

import { ConnectionError } from '../errors.js';
import type { HandshakeContext, ProtocolAdapter } from '../engine/adapter.js';
import type { ConnectRoute } from '../engine/options.js';
import type { TlsOptions } from '../runtime.js';
import { PgCall } from './call.js';
import { tlsServerEndPoint } from './channel-binding.js';
import type { PgHost, ResolvedPgOptions } from './options.js';
import type { PgResult } from './result.js';
import { PgSession } from './session.js';
import type { PgSessionEvent, PgSessionOptions } from './session.js';

/** A call of the handshake (not a user's query). */
function handshakeCall(kind: 'ssl' | 'startup'): PgCall {
  return new PgCall(kind, '', [], 'array', false, null, undefined, undefined);
}

/** What kind of server a connection attempt accepts (target_session_attrs, a pass of prefer-standby). */
export type PgServerWanted = 'any' | 'read-write' | 'read-only' | 'primary' | 'standby';

/** One host to try, and what kind of server it must be on this try. */
export interface PgRoute extends ConnectRoute {
  /** The host (null: the connection is opened by the `connect` option, not to a host). */
  readonly host: PgHost | null;
  /** What the server must be. */
  readonly wanted: PgServerWanted;
}

/**
 * The TLS options of an sslmode (see options.ts's "Discussion: sslmode") for a host: the name
 * sent and checked is the host's name (not its hostaddr), unless `tls.serverName` says another;
 * a host with no name sends none (the address then stands for it where a name is needed).
 */
function tlsFor(options: ResolvedPgOptions, host: PgHost | null): TlsOptions {
  const given = options.tls ?? {};
  const name = host === null ? options.host : host.host !== '' ? host.host : (host.hostaddr ?? undefined);
  // A root certificate file (sslrootcert) makes 'prefer' check the chain too (libpq); 'require'
  // reads as 'verify-ca' then already (options.ts).
  const rootFile = options.sslrootcert !== null && options.sslrootcert !== 'system';
  const verify = options.sslmode === 'verify-full' || options.sslmode === 'verify-ca' || (options.sslmode === 'prefer' && rootFile);
  return {
    ...(name === undefined || name === '' ? {} : { serverName: name }),
    ...given,
    rejectUnauthorized: verify ? (given.rejectUnauthorized ?? true) : false,
    ...(options.sslmode === 'verify-full' ? {} : { checkServerName: false }),
  };
}

/**
 * A failed TLS handshake (an untrusted chain, a name the certificate does not hold) as a
 * ConnectionError that keeps the TLS layer's code and names the host and the sslmode: with
 * one host there is no AllHostsFailedError to say which host it was.
 */
function tlsFailure(error: unknown, options: ResolvedPgOptions, host: PgHost | null): unknown {
  if (!(error instanceof ConnectionError)) return error;
  const where = host === null ? options.host : host.label;
  return new ConnectionError(`TLS with ${where} failed (sslmode ${options.sslmode}): ${error.message}`, error.code, { cause: error });
}

/** A query of the handshake, by the simple protocol: the first value of its first row. */
async function firstValue(context: HandshakeContext<PgCall, PgSession, PgRoute>, text: string): Promise<unknown> {
  const results = await context.request<PgResult[]>(new PgCall('simple', text, [], 'array', false, null, undefined, undefined));
  const row = results[0]?.rows[0] as readonly unknown[] | undefined;
  return row?.[0];
}

/** Whether a server setting's text ('on', 't', true) means true. */
function isOn(value: unknown): boolean {
  return value === true || value === 'on' || value === 't' || value === 'true';
}

/**
 * Whether the server the handshake reached is what `wanted` asks (the ParameterStatus values
 * when reported, else a query): null when it is, else what it is instead.
 */
async function mismatch(context: HandshakeContext<PgCall, PgSession, PgRoute>, wanted: PgServerWanted): Promise<string | null> {
  if (wanted === 'any') return null;
  const parameters = context.session.serverParameters;
  const hotStandby = parameters.get('in_hot_standby');
  if (wanted === 'read-write' || wanted === 'read-only') {
    const readOnlyDefault = parameters.get('default_transaction_read_only');
    const readOnly = hotStandby !== undefined && readOnlyDefault !== undefined ? isOn(hotStandby) || isOn(readOnlyDefault) : isOn(await firstValue(context, 'show transaction_read_only'));
    if (readOnly === (wanted === 'read-only')) return null;
    return readOnly ? 'the server is read-only' : 'the server is not read-only';
  }
  const standby = hotStandby !== undefined ? isOn(hotStandby) : isOn(await firstValue(context, 'select pg_catalog.pg_is_in_recovery()'));
  if (standby === (wanted === 'standby')) return null;
  return standby ? 'the server is in hot standby' : 'the server is not in hot standby';
}

/** The Postgres adapter for a client with these options. */
export function pgAdapter(options: ResolvedPgOptions, session: PgSessionOptions): ProtocolAdapter<PgCall, PgSessionEvent, PgSession, PgRoute> {
  return {
    protocol: 'pg',
    createSession: () => new PgSession(session),
    // An empty query: EmptyQueryResponse and ReadyForQuery, nothing run.
    ping: () => new PgCall('simple', '', [], 'array', false, null, undefined, undefined),
    async handshake(context: HandshakeContext<PgCall, PgSession, PgRoute>): Promise<void> {
      const host = context.route.host;
      const given = options.password;
      const password = typeof given === 'function' ? await given() : (given ?? null);
      if (password !== null && typeof password !== 'string') throw new ConnectionError('the password function must give a string', 'ERR_PG_PASSWORD');
      const connectionOptions = {
        user: options.user,
        requireChannelBinding: options.channelBinding === 'require',
        database: options.database,
        password,
        parameters: {
          application_name: options.applicationName,
          client_encoding: 'UTF8',
          DateStyle: 'ISO, MDY',
          IntervalStyle: 'postgres',
          ...options.parameters,
        },
      };
      context.session.open(connectionOptions);
      const socket = host !== null && 'path' in host.target;
      const wantsTls = options.sslmode !== 'disable' && !socket;
      const mustTls = wantsTls && options.sslmode !== 'prefer';
      if (wantsTls && options.sslmode === 'verify-full' && host !== null && host.host === '' && options.tls?.serverName === undefined) {
        throw new ConnectionError(`sslmode verify-full: host name must be specified for a verified TLS connection (${host.label} is given only by its hostaddr)`, 'ERR_PG_TLS_NO_HOST_NAME');
      }
      if (wantsTls && !context.canStartTls && mustTls) throw new ConnectionError(`sslmode ${options.sslmode}: this transport cannot start TLS`, 'ERR_PG_TLS_UNAVAILABLE');
      if (wantsTls && context.canStartTls) {
        let accepted: boolean;
        try {
          accepted = await context.request<boolean>(handshakeCall('ssl'));
        } catch (error) {
          context.session.resumeReading();
          throw error;
        }
        try {
          if (accepted) {
            const tls = await context.startTls({ side: 'client', ...tlsFor(options, host) }).catch((error: unknown) => {
              throw tlsFailure(error, options, host);
            });
            // A fresh protocol object for the startup, given the TLS session's channel binding
            // (SCRAM-SHA-256-PLUS when the server offers it).
            // (None with channelBinding 'disable': plain SCRAM-SHA-256.)
            context.session.open({ ...connectionOptions, channelBinding: options.channelBinding === 'disable' ? null : await tlsServerEndPoint(tls.peerCertificate) });
          } else if (mustTls) throw new ConnectionError(`the server refused TLS (sslmode ${options.sslmode})`, 'ERR_PG_TLS_REFUSED');
        } finally {
          context.session.resumeReading();
        }
      }
      await context.request<void>(handshakeCall('startup'));
      const wanted = context.route.wanted;
      const wrong = await mismatch(context, wanted);
      if (wrong !== null) {
        // The polite goodbye (the server logs no lost connection); the engine closes it next.
        context.session.protocolObject.terminate();
        await context.writeNow().catch(() => {});
        throw new ConnectionError(`${wrong} (target_session_attrs ${wanted})`, 'ERR_PG_TARGET_SESSION_ATTRS');
      }
    },
  };
}
