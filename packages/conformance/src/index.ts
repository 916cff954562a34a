// @curio-ts/conformance: the shared test kit every runtime runs unchanged.
// Test-only: it starts private redis-server processes, or in-process peers on a Runtime.

export { redisConformance, testRedisUrl, TEST_REDIS_ENV, ALL_REDIS_CAPABILITIES } from './redis.js';
export { promiseConformance, UnhandledRejections } from './promise.js';
export type { RedisHarness, RedisCapability, LeftOutCase, TestApi } from './redis.js';
export { startPrivateRedis, freePort, waitForPort, startFakeRedis, answerLikeRedis, bulkAnswer, sawServerLoading } from './servers.js';
export type { PrivateRedis, PrivateRedisOptions, FakeRedis, FakeRedisCommand, FakeRedisAnswer } from './servers.js';
export { startInProcessRedis } from './inprocess/server.js';
export type { InProcessRedis, InProcessRedisOptions } from './inprocess/server.js';
export { startFakeRedisOn } from './inprocess/scripted.js';
export { startFakePgOn, fakePgSecret } from './inprocess/pg-scripted.js';
export type { FakePg, FakePgAnswer, FakePgCancel, FakePgEvent, FakePgField, FakePgQuery } from './inprocess/pg-scripted.js';
export { engineConformance } from './engine.js';
export type { EngineHarness } from './engine.js';
export { LineCall, LineSession, LineError, LineProtocolError, lineAdapter, startLineServer } from './line-protocol.js';
export type { LineServer } from './line-protocol.js';
export { runtimeConformance, FLOOD_BYTES, STALL_BOUND, BUFFERED_BOUND } from './runtime.js';
export type { RuntimeHarness, RuntimeCapabilities } from './runtime.js';
export { startUpperServer, LineReader, bytesOf, targetOf } from './upper-server.js';
export type { UpperServer } from './upper-server.js';
export { makeTestCa, makeTestCertificates } from './certs.js';
export type { IssuedCertificate, TestCa, TestCertificates } from './certs.js';
export { httpServerConformance, echoHandler, curl, rawExchange } from './http.js';
export { httpHandlerConformance } from './http-handlers.js';
export { httpHostileConformance, rawOutcome } from './http-hostile.js';
export type { RawOutcome } from './http-hostile.js';
export { httpPeersConformance } from './http-peers.js';
export { startAppProcess } from './app-process.js';
export type { AppProcess } from './app-process.js';
export { httpClientConformance, nodeHttpServer, rawServer, peerHandler, startProxy } from './http-client.js';
export type { PeerServer, HttpClientSuiteOptions } from './http-client.js';
export { PGLITE_EXCLUSIONS, PGLITE_MAIN_THREAD_EXCLUSIONS, pgConformance } from './pg.js';
export type { PgHarness, PgPeer } from './pg.js';
export { pgFaultConformance } from './pg-faults.js';
export { pgHostsConformance } from './pg-hosts.js';
export { startPrivatePostgres, testPgUrl, sharedTestPgUrl, findPostgresBinaries, missingPostgresMessage, preparePostgresTemplate, TEST_PG_ENV, PG_TEST_USER } from './postgres-server.js';
export type { PrivatePostgres, PrivatePostgresOptions, PrivatePostgresTls, PrivatePostgresUser, PgAuthMethod, PgBinaries } from './postgres-server.js';
