// Types of channel.mjs (plain JavaScript shared by the main thread and the worker).

export declare const REQUEST_CAPACITY: number;
export declare const REPLY_CAPACITY: number;
export declare const HEADER: number;
export declare const CELL: { readonly REQ_WRITE: 0; readonly REQ_READ: 1; readonly REP_WRITE: 2; readonly REP_READ: 3 };
export declare const KIND: {
  readonly EXEC_PART: 1;
  readonly EXEC: 2;
  readonly CLOSE: 3;
  readonly DATA: 4;
  readonly DONE: 5;
  readonly FAILED: 6;
  readonly CLOSED: 7;
};

export interface ChannelRecord {
  readonly kind: number;
  readonly flags: number;
  readonly payload: Uint8Array;
}

export declare function sharedBuffer(): SharedArrayBuffer;

export declare class Channel {
  constructor(shared: SharedArrayBuffer, side: 'main' | 'worker');
  readonly counters: Int32Array;
  readonly maxPayload: number;
  tryWriteRecord(kind: number, flags: number, payload: Uint8Array): boolean;
  tryReadRecord(): ChannelRecord | null;
  incomingCell(): number;
  outgoingReadCell(): number;
  block(cell: number, value: number): void;
  awaitRequest(cell: number, value: number): void;
  readRecord(): ChannelRecord;
  writeRecord(kind: number, flags: number, payload: Uint8Array): void;
  writeRecordParts(kind: number, flags: number, parts: readonly Uint8Array[], length: number): void;
}
