// tls-server-end-point: the signature algorithm read from a certificate's DER picks the hash;
// anything unreadable gives no binding. (The real servers of the conformance suite check the
// hash itself: SCRAM-SHA-256-PLUS fails unless it is right.)
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { signatureAlgorithmOid, tlsServerEndPoint } from '@curio-ts/client';

/** A certificate's outline: SEQUENCE { tbs SEQUENCE, AlgorithmIdentifier { OID }, BIT STRING }. */
function certificate(oid: number[], tbsLength = 3): Uint8Array {
  const tbs = [0x30, ...derLength(tbsLength), ...new Array<number>(tbsLength).fill(1)];
  const algorithm = [0x30, oid.length + 2, 0x06, oid.length, ...oid];
  const signature = [0x03, 2, 0, 0xff];
  const body = [...tbs, ...algorithm, ...signature];
  return new Uint8Array([0x30, ...derLength(body.length), ...body]);
}

/** A DER length: short form below 128, else long form. */
function derLength(n: number): number[] {
  return n < 128 ? [n] : n < 256 ? [0x81, n] : [0x82, n >> 8, n & 255];
}

const ECDSA_SHA384 = [0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const RSA_SHA256 = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];

describe('tls-server-end-point', () => {
  it('reads the signature algorithm and hashes with its hash (SHA-256 by default)', async () => {
    expect(signatureAlgorithmOid(certificate(ECDSA_SHA384))).toBe('1.2.840.10045.4.3.3');
    expect(signatureAlgorithmOid(certificate(RSA_SHA256, 200))).toBe('1.2.840.113549.1.1.11');
    expect((await tlsServerEndPoint(certificate(ECDSA_SHA384)))?.length).toBe(48);
    expect((await tlsServerEndPoint(certificate(RSA_SHA256)))?.length).toBe(32);
  });

  it('gives no binding for what is not a certificate', async () => {
    expect(await tlsServerEndPoint(null)).toBeNull();
    expect(await tlsServerEndPoint(new Uint8Array(0))).toBeNull();
    expect(await tlsServerEndPoint(certificate(ECDSA_SHA384).subarray(0, 10))).toBeNull();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const oid = signatureAlgorithmOid(bytes);
        expect(oid === null || /^\d+\.\d+(\.\d+)*$/.test(oid)).toBe(true);
      }),
    );
  });
});
