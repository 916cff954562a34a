// types.ts
//
// Types of the Runtime interface that @curio-ts/client does not export by name (yet), derived
// from `Runtime` itself, so they stay exactly the interface's. When the client exports
// Listener, ListenTarget, StreamAddress and TlsInfo, import them from there instead.

import type { ByteStream, Runtime } from '@curio-ts/client';

/** A listening endpoint (the client package's `Listener`). */
export type Listener = Awaited<ReturnType<Runtime['listen']>>;
/** Where to listen (the client package's `ListenTarget`). */
export type ListenTarget = Parameters<Runtime['listen']>[0];
/** A bound address (the client package's `StreamAddress`). */
export type StreamAddress = Listener['address'];
/** What a TLS stream knows about its session (the client package's `TlsInfo`). */
export type TlsInfo = NonNullable<ByteStream['tls']>;
