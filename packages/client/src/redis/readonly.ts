// redis/readonly.ts
//
// Commands that only read: safe to send again when the connection broke after they were
// written (retryOnReconnect: 'idempotent'). Anything not listed is assumed to write.

/** Upper-case names of read-only, idempotent commands. */
export const READ_ONLY_COMMANDS: ReadonlySet<string> = new Set([
  'PING', 'ECHO', 'TIME', 'DBSIZE', 'INFO', 'LASTSAVE', 'COMMAND',
  'GET', 'MGET', 'GETRANGE', 'STRLEN', 'EXISTS', 'TYPE', 'TTL', 'PTTL', 'EXPIRETIME', 'PEXPIRETIME',
  'KEYS', 'SCAN', 'RANDOMKEY', 'DUMP', 'OBJECT', 'MEMORY',
  'HGET', 'HMGET', 'HGETALL', 'HEXISTS', 'HLEN', 'HKEYS', 'HVALS', 'HSTRLEN', 'HSCAN', 'HRANDFIELD',
  'LRANGE', 'LLEN', 'LINDEX', 'LPOS',
  'SMEMBERS', 'SISMEMBER', 'SMISMEMBER', 'SCARD', 'SSCAN', 'SRANDMEMBER', 'SINTER', 'SUNION', 'SDIFF', 'SINTERCARD',
  'ZRANGE', 'ZRANGEBYSCORE', 'ZREVRANGE', 'ZREVRANGEBYSCORE', 'ZSCORE', 'ZMSCORE', 'ZCARD', 'ZCOUNT', 'ZRANK', 'ZREVRANK', 'ZSCAN', 'ZLEXCOUNT', 'ZRANGEBYLEX',
  'XRANGE', 'XREVRANGE', 'XLEN', 'XINFO', 'XPENDING',
  'BITCOUNT', 'GETBIT', 'BITPOS', 'PFCOUNT', 'GEOPOS', 'GEODIST', 'GEOSEARCH', 'GEOHASH',
  'EVALSHA_RO', 'EVAL_RO', 'FCALL_RO',
]);
