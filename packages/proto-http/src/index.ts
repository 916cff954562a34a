// @curio-ts/proto-http: HTTP/1.1 as sans-IO protocol objects, parsing with llhttp (WebAssembly).
// Bytes in, events out; requests and responses in, bytes out. No sockets, no timers, no promises.

export { WireParser, methodName, HPE, REQUEST, RESPONSE, HEAD_CONTINUE, HEAD_NO_BODY, HEAD_UPGRADE } from './llhttp/binding.js';
export type { WireFields, WireHead, WireLimit, WireLimits, WireSink } from './llhttp/binding.js';
export { LLHTTP_SHA256, LLHTTP_SOURCE } from './llhttp/wasm.generated.js';
export { HttpConnection } from './connection.js';
export type { HttpLimits, TrailingData } from './connection.js';
export { ConnectionClosed, Data, EndOfMessage, InformationalResponse, NEED_DATA, PAUSED, Request, Response } from './events.js';
export type { HttpEvent, HttpVersion, NeedData, Paused } from './events.js';
export { FieldList, latin1 } from './fields.js';
export { OutputBuffer } from './writer.js';
export type { FieldsInit, FieldValueInit } from './fields.js';
export { HttpProtocolError, LocalProtocolError, RemoteProtocolError } from './errors.js';
export { CLIENT_STATES, SERVER_STATES, nextState, statesOf } from './state.js';
export type { HttpState, Role, StateInput, StateTable } from './state.js';
