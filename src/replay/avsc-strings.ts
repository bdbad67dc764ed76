/**
 * A faster string writer for avsc. avsc's `Tap.writeString` asks `Buffer.byteLength` (a native
 * call) for every string before writing it; the replay's encoder writes several short strings
 * per record (ids, codes, dates), and that call was about a twentieth of a processing thread's
 * time. Here a string shorter than 64 characters is written byte by byte while every character
 * is ASCII (then its length is its byte count, and fits the one-byte varint written before it);
 * any other string, or one that does not fit the buffer, goes to avsc's own writer, which writes
 * exactly the same bytes.
 */
import { createRequire } from 'node:module';

interface Tap {
  buf: Buffer;
  pos: number;
  writeString(s: string): void;
}

const require = createRequire(import.meta.url);
let installed: boolean | null = null;

/**
 * True when `REPROCESS_AVSC_FASTPATH=0`: Avro is read and written by avsc alone, as shipped (no
 * string writer here, no compiled reader or writer: avro-read.ts, avro-write.ts).
 */
export function avscAsShipped(): boolean {
  return process.env.REPROCESS_AVSC_FASTPATH === '0';
}

/** Installs the writer once (answers whether it is in place); `REPROCESS_AVSC_FASTPATH=0` leaves avsc as shipped. */
export function installAvscStrings(): boolean {
  if (installed !== null) return installed;
  if (avscAsShipped()) return (installed = false);
  let proto: Tap;
  try {
    proto = (require('avsc/lib/utils.js') as { Tap: { prototype: Tap } }).Tap.prototype;
  } catch {
    return (installed = false);
  }
  const original = proto.writeString;
  if (typeof original !== 'function') return (installed = false);
  proto.writeString = function writeString(this: Tap, s: string): void {
    const n = s.length;
    if (n < 64) {
      const buf = this.buf;
      const at = this.pos + 1;
      if (at + n <= buf.length) {
        let i = 0;
        for (; i < n; i++) {
          const c = s.charCodeAt(i);
          if (c > 0x7f) break;
          buf[at + i] = c;
        }
        if (i === n) {
          buf[this.pos] = n << 1; // the length as a zigzag varint: one byte below 64
          this.pos = at + n;
          return;
        }
      }
    }
    original.call(this, s);
  };
  return (installed = true);
}
