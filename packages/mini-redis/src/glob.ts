// glob.ts
//
// Redis's glob patterns (stringmatchlen) for KEYS, SCAN MATCH and PSUBSCRIBE: `*`, `?`,
// `[abc]`, `[^a-z]`, and `\` to escape. The pattern is compiled once into tokens; matching is
// the linear two-pointer algorithm that backtracks only to the last `*` (Redis gets the same
// answers with recursion). Quirks kept: an empty string matches only an empty pattern (Redis's
// KEYS and SCAN treat a lone `*` as "everything" before matching), a `[` class left open runs
// to the end of the pattern, and a range may be written backwards (`[z-a]`).

const STAR = 0;
const ANY = 1;
const LITERAL = 2;
const CLASS = 3;

type Token =
  | { readonly kind: typeof STAR }
  | { readonly kind: typeof ANY }
  | { readonly kind: typeof LITERAL; readonly code: number }
  | { readonly kind: typeof CLASS; readonly negate: boolean; readonly codes: readonly number[]; readonly ranges: readonly number[] };

/** A compiled glob pattern over binary strings. */
export type Matcher = (text: string) => boolean;

/** Compile a Redis glob pattern (a binary string). */
export function compileGlob(pattern: string): Matcher {
  const tokens = tokenize(pattern);
  if (tokens.length === 0) return (text) => text.length === 0;
  return (text) => text.length > 0 && matchTokens(tokens, text);
}

function tokenize(pattern: string): Token[] {
  const tokens: Token[] = [];
  const n = pattern.length;
  for (let i = 0; i < n; i++) {
    const c = pattern.charCodeAt(i);
    if (c === 0x2a /* * */) {
      if (tokens[tokens.length - 1]?.kind !== STAR) tokens.push({ kind: STAR });
    } else if (c === 0x3f /* ? */) {
      tokens.push({ kind: ANY });
    } else if (c === 0x5b /* [ */) {
      i = readClass(pattern, i + 1, tokens);
    } else if (c === 0x5c /* \ */ && i + 1 < n) {
      tokens.push({ kind: LITERAL, code: pattern.charCodeAt(++i) });
    } else {
      tokens.push({ kind: LITERAL, code: c });
    }
  }
  return tokens;
}

/** Read a class starting after its `[`; returns the index of its `]` (or the last index). */
function readClass(pattern: string, start: number, tokens: Token[]): number {
  const n = pattern.length;
  let i = start;
  const negate = pattern.charCodeAt(i) === 0x5e; /* ^ */
  if (negate) i++;
  const codes: number[] = [];
  const ranges: number[] = [];
  for (;;) {
    const c = pattern.charCodeAt(i);
    if (i >= n) {
      i = n - 1;
      break;
    }
    if (c === 0x5c && n - i >= 2) {
      codes.push(pattern.charCodeAt(++i));
    } else if (c === 0x5d /* ] */) {
      break;
    } else if (n - i >= 3 && pattern.charCodeAt(i + 1) === 0x2d /* - */) {
      const from = c;
      const to = pattern.charCodeAt(i + 2);
      ranges.push(Math.min(from, to), Math.max(from, to));
      i += 2;
    } else {
      codes.push(c);
    }
    i++;
  }
  tokens.push({ kind: CLASS, negate, codes, ranges });
  return i;
}

function matchOne(token: Token, c: number): boolean {
  switch (token.kind) {
    case ANY:
      return true;
    case LITERAL:
      return token.code === c;
    case CLASS: {
      let found = token.codes.includes(c);
      for (let r = 0; !found && r < token.ranges.length; r += 2) {
        if (c >= (token.ranges[r] as number) && c <= (token.ranges[r + 1] as number)) found = true;
      }
      return found !== token.negate;
    }
    case STAR:
      return false;
    default: {
      const never: never = token;
      return never;
    }
  }
}

function matchTokens(tokens: readonly Token[], text: string): boolean {
  const count = tokens.length;
  const n = text.length;
  let t = 0;
  let s = 0;
  let starToken = -1;
  let starText = 0;
  while (s < n) {
    const token = tokens[t];
    if (token !== undefined && token.kind === STAR) {
      starToken = t++;
      starText = s;
      continue;
    }
    if (token !== undefined && matchOne(token, text.charCodeAt(s))) {
      t++;
      s++;
      continue;
    }
    if (starToken < 0) return false;
    t = starToken + 1;
    s = ++starText;
  }
  while (t < count && (tokens[t] as Token).kind === STAR) t++;
  return t === count;
}
