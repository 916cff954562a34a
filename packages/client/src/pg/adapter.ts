// pg/adapter.ts
//
// Postgres on the engine: the handshake of a new connection. The password is resolved first
// (a function is called for every connection: rotating tokens), then, unless sslmode is
// 'disable' (or the target is a unix socket), an SSLRequest: on 'S' the stream is upgraded
// with HandshakeContext.startTls, on 'N' the connection goes on in the clear for 'prefer' and
// fails for 'require' and 'verify-full'. Then the StartupMessage; authentication (cleartext,
// MD5, SCRAM-SHA-256) is answered inside the protocol object; the handshake ends at the first
// ReadyForQuery. Over TLS the startup's protocol object is given the certificate's
// tls-server-end-point hash, so SCRAM-SHA-256-PLUS binds the authentication to the TLS session.
//
// The startup parameters fix what the codecs read: DateStyle ISO, IntervalStyle postgres,
// client_encoding UTF8 (the codecs' text formats), besides application_name and the user's.

import { ConnectionError } from '../errors.js';
import type { HandshakeContext, ProtocolAdapter } from '../engine/adapter.js';
import type { TlsOptions } from '../runtime.js';
import { PgCall } from './call.js';
import { tlsServerEndPoint } from './channel-binding.js';
import type { ResolvedPgOptions } from './options.js';
import { PgSession } from './session.js';
import type { PgSessionEvent, PgSessionOptions } from './session.js';

/** A call of the handshake (not a user's query). */
function handshakeCall(kind: 'ssl' | 'startup'): PgCall {
  return new PgCall(kind, '', [], 'array', false, null, undefined, undefined);
}

/** The TLS options of an sslmode (see options.ts's "Discussion: sslmode"). */
function tlsFor(options: ResolvedPgOptions): TlsOptions {
  const given = options.tls ?? {};
  const verify = options.sslmode === 'verify-full';
  return { serverName: options.host, ...given, rejectUnauthorized: verify ? (given.rejectUnauthorized ?? true) : false };
}

/** The Postgres adapter for a client with these options. */
export function pgAdapter(options: ResolvedPgOptions, session: PgSessionOptions): ProtocolAdapter<PgCall, PgSessionEvent, PgSession> {
  return {
    protocol: 'pg',
    createSession: () => new PgSession(session),
    // An empty query: EmptyQueryResponse and ReadyForQuery, nothing run.
    ping: () => new PgCall('simple', '', [], 'array', false, null, undefined, undefined),
    async handshake(context: HandshakeContext<PgCall, PgSession>): Promise<void> {
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
      const wantsTls = options.sslmode !== 'disable';
      const mustTls = options.sslmode === 'require' || options.sslmode === 'verify-full';
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
            const tls = await context.startTls({ side: 'client', ...tlsFor(options) });
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
    },
  };
}
