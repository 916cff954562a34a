// pg/channel-binding.ts
//
// The tls-server-end-point channel binding (RFC 5929) of a TLS connection: the hash of the
// server's certificate, with the hash function of the certificate's signature algorithm (SHA-256
// for MD5 and SHA-1 signatures). Given to the protocol object, it lets SCRAM-SHA-256-PLUS bind
// the authentication to this TLS session, so that a man in the middle holding another
// certificate cannot relay it. Hashing uses WebCrypto (`crypto.subtle`, a global on every
// runtime here): this package imports no IO module.
//
// Invariants:
// - A certificate that cannot be read (not DER, an unknown shape) gives null: no binding, and
//   SCRAM-SHA-256 without PLUS, never a wrong hash.

/** The hash of the signature algorithms that do not use SHA-256 (by OID, dotted). */
const HASH_OF_SIGNATURE: Readonly<Record<string, 'SHA-384' | 'SHA-512'>> = {
  '1.2.840.113549.1.1.12': 'SHA-384', // sha384WithRSAEncryption
  '1.2.840.113549.1.1.13': 'SHA-512', // sha512WithRSAEncryption
  '1.2.840.10045.4.3.3': 'SHA-384', // ecdsa-with-SHA384
  '1.2.840.10045.4.3.4': 'SHA-512', // ecdsa-with-SHA512
};

/** A DER element's content range and where the element ends; null when it does not fit. */
function element(der: Uint8Array, at: number, tag: number): { start: number; end: number } | null {
  if (der[at] !== tag || at + 2 > der.length) return null;
  let length = der[at + 1] as number;
  let start = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > der.length) return null;
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (der[start + i] as number);
    start += bytes;
  }
  const end = start + length;
  return end > der.length ? null : { start, end };
}

/** The dotted OID of the certificate's signatureAlgorithm, or null. */
export function signatureAlgorithmOid(der: Uint8Array): string | null {
  const certificate = element(der, 0, 0x30);
  if (certificate === null) return null;
  const tbs = element(der, certificate.start, 0x30);
  if (tbs === null) return null;
  const algorithm = element(der, tbs.end, 0x30);
  if (algorithm === null) return null;
  const oid = element(der, algorithm.start, 0x06);
  if (oid === null || oid.end === oid.start) return null;
  const first = der[oid.start] as number;
  const parts = [Math.floor(first / 40), first % 40];
  let value = 0;
  for (let i = oid.start + 1; i < oid.end; i++) {
    const byte = der[i] as number;
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

/** The tls-server-end-point binding data of a server certificate (DER), or null (see the header). */
export async function tlsServerEndPoint(der: Uint8Array | null): Promise<Uint8Array | null> {
  if (der === null || der.length === 0) return null;
  const oid = signatureAlgorithmOid(der);
  if (oid === null) return null;
  const subtle = (globalThis as { crypto?: { subtle?: { digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer> } } }).crypto?.subtle;
  if (subtle === undefined) return null;
  return new Uint8Array(await subtle.digest(HASH_OF_SIGNATURE[oid] ?? 'SHA-256', der));
}
