// saslprep.ts
//
// SASLprep (RFC 4013, the stringprep profile of RFC 3454) of SCRAM passwords, as PostgreSQL
// applies it: the server prepares a password this way when it stores its SCRAM verifier, so
// the client must prepare it the same way to compute the same keys.
//
// Steps: map (non-ASCII spaces to SPACE, the characters "commonly mapped to nothing" removed),
// normalise (NFKC), refuse prohibited output (controls, private use, non-characters,
// surrogates, characters inappropriate for plain text or canonical representation, those that
// change display properties, tagging characters, non-ASCII spaces), check bidirectional text
// (a string with a right-to-left character has no left-to-right one, and begins and ends with
// a right-to-left character). A prohibited result is `null`: the caller then uses the password
// as given, as libpq does, and as the server did when it made the verifier.
//
// Invariants:
// - An ASCII string is returned as it is (PostgreSQL's fast path: ASCII is already NFKC, and
//   it prepares ASCII with control characters as itself too).
// - Pure: no IO, no state.
//
// Discussion: what is approximated. Stringprep is pinned to Unicode 3.2; here NFKC and the
// bidirectional classes come from the running engine's Unicode (newer). The bidirectional
// check tells right-to-left characters by their script (Hebrew, Arabic, Syriac, Thaana, N'Ko
// letters, and U+200F) and left-to-right ones as the other letters and spacing marks, not by the
// exact tables D.1 and D.2; unassigned code points (table A.1) are not refused. A password can
// only come out differently from the server's when it mixes scripts of both directions, or
// holds characters assigned after Unicode 3.2 together with characters SASLprep changes.

/** Table B.1: removed by the mapping step. */
function mappedToNothing(cp: number): boolean {
  return (
    cp === 0x00ad || cp === 0x034f || cp === 0x1806 || (cp >= 0x180b && cp <= 0x180d) || (cp >= 0x200b && cp <= 0x200d) || cp === 0x2060 || (cp >= 0xfe00 && cp <= 0xfe0f) || cp === 0xfeff
  );
}

/** Table C.1.2: non-ASCII space characters (mapped to SPACE, and prohibited in the output). */
function nonAsciiSpace(cp: number): boolean {
  return cp === 0x00a0 || cp === 0x1680 || (cp >= 0x2000 && cp <= 0x200b) || cp === 0x202f || cp === 0x205f || cp === 0x3000;
}

/** Tables C.1.2 to C.9: prohibited in the output. */
function prohibited(cp: number): boolean {
  if (nonAsciiSpace(cp)) return true;
  // C.2.1 and C.2.2: control characters.
  if (cp <= 0x1f || (cp >= 0x7f && cp <= 0x9f)) return true;
  if (cp === 0x06dd || cp === 0x070f || cp === 0x180e || cp === 0x200c || cp === 0x200d || cp === 0x2028 || cp === 0x2029) return true;
  if ((cp >= 0x2060 && cp <= 0x2063) || (cp >= 0x206a && cp <= 0x206f) || cp === 0xfeff || (cp >= 0xfff9 && cp <= 0xfffc) || (cp >= 0x1d173 && cp <= 0x1d17a)) return true;
  // C.3: private use.
  if ((cp >= 0xe000 && cp <= 0xf8ff) || (cp >= 0xf0000 && cp <= 0xffffd) || (cp >= 0x100000 && cp <= 0x10fffd)) return true;
  // C.4: non-character code points.
  if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return true;
  // C.5: surrogate codes (a lone surrogate in a JavaScript string).
  if (cp >= 0xd800 && cp <= 0xdfff) return true;
  // C.6: inappropriate for plain text (FFF9-FFFB above); C.7: for canonical representation.
  if ((cp >= 0xfff9 && cp <= 0xfffd) || (cp >= 0x2ff0 && cp <= 0x2ffb)) return true;
  // C.8: change display properties or deprecated.
  if (cp === 0x0340 || cp === 0x0341 || cp === 0x200e || cp === 0x200f || (cp >= 0x202a && cp <= 0x202e)) return true;
  // C.9: tagging characters.
  return cp === 0xe0001 || (cp >= 0xe0020 && cp <= 0xe007f);
}

/** Right-to-left characters (RandALCat, see "Discussion: what is approximated"). */
const RIGHT_TO_LEFT = /^(?:\u200F|(?=\p{L})[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}])$/u;
/** Left-to-right characters (LCat): the other letters, and spacing combining marks. */
const LEFT_TO_RIGHT = /^[\p{L}\p{Mc}]$/u;

/**
 * `text` prepared by SASLprep (RFC 4013) for use as a SCRAM password, or null when the result
 * is prohibited (then use `text` as it is). ASCII text is returned unchanged.
 */
export function saslprep(text: string): string | null {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) return text;
  let mapped = '';
  for (const char of text) {
    const cp = char.codePointAt(0) as number;
    if (mappedToNothing(cp)) continue;
    mapped += nonAsciiSpace(cp) ? ' ' : char;
  }
  const prepared = mapped.normalize('NFKC');
  let rightToLeft = false;
  let leftToRight = false;
  for (const char of prepared) {
    if (prohibited(char.codePointAt(0) as number)) return null;
    if (RIGHT_TO_LEFT.test(char)) rightToLeft = true;
    else if (LEFT_TO_RIGHT.test(char)) leftToRight = true;
  }
  if (rightToLeft) {
    if (leftToRight) return null;
    const chars = [...prepared];
    if (!RIGHT_TO_LEFT.test(chars[0] as string) || !RIGHT_TO_LEFT.test(chars[chars.length - 1] as string)) return null;
  }
  return prepared;
}
