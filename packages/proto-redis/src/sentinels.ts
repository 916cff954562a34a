// sentinels.ts
//
// The two answers of `nextEvent()` (and of the decoder's `next()`) that are not events, as in
// h11: NEED_DATA (nothing complete is buffered: feed more bytes) and PAUSED (the object will
// not read on until its consumer resumes it; feeding bytes does not help).

/** No complete event is buffered: call `receiveData` with more bytes, then ask again. */
export const NEED_DATA: unique symbol = Symbol('NEED_DATA');
/** The type of {@link NEED_DATA}. */
export type NeedData = typeof NEED_DATA;

/**
 * The object does not read on until its consumer resumes it (the server role: `unblock()` or
 * `answered()`); more bytes do not change that. See each role's `nextEvent` for when.
 */
export const PAUSED: unique symbol = Symbol('PAUSED');
/** The type of {@link PAUSED}. */
export type Paused = typeof PAUSED;
