// bytes.ts: byte helpers shared by the client package's protocols.

/** `parts` as one array; the part itself when it is the only non-empty one (no copy). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  let only: Uint8Array | null = null;
  let nonEmpty = 0;
  for (const part of parts) {
    if (part.length === 0) continue;
    length += part.length;
    only = part;
    nonEmpty++;
  }
  if (nonEmpty <= 1) return only ?? (parts[0] as Uint8Array | undefined) ?? new Uint8Array(0);
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
