/**
 * Byte strings numbered as they are first seen: the comparison's record keys and dimension values,
 * found by their bytes where they lie in a fetched batch, so that counting them makes no string
 * per record (the text of each is decoded once, when it is first asked for).
 *
 * An open-addressing hash table (linear probing, at most half full) over a pool of the bytes.
 */
import { isUtf8 } from 'node:buffer';
import { utf8Text } from '../replay/avro-read.js';

const EMPTY = 0;
/** Whether an entry's bytes are UTF-8: not looked at yet, they are, they are not. */
const UNCHECKED = 0;
const UTF8 = 1;
const NOT_UTF8 = 2;

export class BytesTable {
  private pool: Buffer;
  private used = 0;
  private starts: Int32Array;
  private lengths: Int32Array;
  private hashes: Int32Array;
  private utf8: Uint8Array;
  private texts: (string | undefined)[] = [];
  /** Entry + 1 per slot; EMPTY where free. */
  private slots: Int32Array;
  private mask: number;
  private count = 0;
  private scratch = Buffer.allocUnsafe(256);
  /** Texts asked for by findText, with their numbers (the null value's placeholder, numbers' texts). */
  private textIds = new Map<string, number>();

  constructor(initialEntries = 1024) {
    const capacity = 1 << Math.ceil(Math.log2(Math.max(16, initialEntries)));
    this.pool = Buffer.allocUnsafe(capacity * 16);
    this.starts = new Int32Array(capacity);
    this.lengths = new Int32Array(capacity);
    this.hashes = new Int32Array(capacity);
    this.utf8 = new Uint8Array(capacity);
    this.slots = new Int32Array(capacity * 2);
    this.mask = capacity * 2 - 1;
  }

  /** Entries so far (they are numbered 0 … size - 1). */
  get size(): number {
    return this.count;
  }

  /** The number of the bytes `buf[start, start + length)`, given them when they are new. */
  find(buf: Uint8Array, start: number, length: number): number {
    // FNV-1a over the bytes.
    let h = 0x811c9dc5 | 0;
    const end = start + length;
    for (let i = start; i < end; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
    const slots = this.slots;
    const mask = this.mask;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const e = (slots[s] as number) - 1;
      if (e < 0) return this.add(buf, start, length, h, s);
      if (this.hashes[e] === h && this.lengths[e] === length && this.same(e, buf, start, length)) return e;
    }
  }

  /** The number of `text`'s UTF-8 bytes. */
  findText(text: string): number {
    let e = this.textIds.get(text);
    if (e === undefined) {
      // A UTF-8 char takes at most three bytes per UTF-16 unit.
      if (text.length * 3 > this.scratch.length) this.scratch = Buffer.allocUnsafe(text.length * 3);
      const n = this.scratch.write(text, 0, 'utf8');
      e = this.find(this.scratch, 0, n);
      if (this.textIds.size < 4096) this.textIds.set(text, e);
    }
    return e;
  }

  /** Entry `e`'s bytes as text (UTF-8, as `Buffer.toString` reads them). */
  text(e: number): string {
    let t = this.texts[e];
    if (t === undefined) {
      const at = this.starts[e] as number;
      t = utf8Text(this.pool, at, at + (this.lengths[e] as number));
      this.texts[e] = t;
    }
    return t;
  }

  /** Bytes entry `e`'s text takes as UTF-8: its own, or where they are not UTF-8, those of the text they read as. */
  utf8Length(e: number): number {
    return this.isUtf8(e) ? (this.lengths[e] as number) : Buffer.byteLength(this.text(e), 'utf8');
  }

  /** Writes entry `e`'s text as UTF-8 (utf8Length bytes) into `out` at `at`; returns where it ends. */
  writeUtf8(e: number, out: Buffer, at: number): number {
    if (!this.isUtf8(e)) return at + out.write(this.text(e), at, 'utf8');
    const pool = this.pool;
    const start = this.starts[e] as number;
    const end = start + (this.lengths[e] as number);
    for (let i = start; i < end; i++) out[at++] = pool[i] as number;
    return at;
  }

  private isUtf8(e: number): boolean {
    let v = this.utf8[e] as number;
    if (v === UNCHECKED) {
      const at = this.starts[e] as number;
      v = isUtf8(this.pool.subarray(at, at + (this.lengths[e] as number))) ? UTF8 : NOT_UTF8;
      this.utf8[e] = v;
    }
    return v === UTF8;
  }

  /** Forgets every entry. */
  clear(): void {
    this.slots.fill(EMPTY);
    this.texts = [];
    this.textIds.clear();
    this.count = 0;
    this.used = 0;
  }

  private same(e: number, buf: Uint8Array, start: number, length: number): boolean {
    const pool = this.pool;
    const at = this.starts[e] as number;
    for (let i = 0; i < length; i++) if (pool[at + i] !== buf[start + i]) return false;
    return true;
  }

  private add(buf: Uint8Array, start: number, length: number, h: number, slot: number): number {
    const e = this.count++;
    if (e === this.starts.length) this.growEntries();
    if (this.used + length > this.pool.length) {
      const pool = Buffer.allocUnsafe(Math.max(this.pool.length * 2, this.used + length));
      this.pool.copy(pool, 0, 0, this.used);
      this.pool = pool;
    }
    this.pool.set(buf.subarray(start, start + length), this.used);
    this.starts[e] = this.used;
    this.lengths[e] = length;
    this.hashes[e] = h;
    this.utf8[e] = UNCHECKED;
    this.used += length;
    this.slots[slot] = e + 1;
    // At most half full: past that, twice the slots.
    if (this.count * 2 > this.mask + 1) this.rehash();
    return e;
  }

  private growEntries(): void {
    const grow = <A extends Int32Array | Uint8Array>(a: A): A => {
      const b = new (a.constructor as new (n: number) => A)(a.length * 2);
      b.set(a);
      return b;
    };
    this.starts = grow(this.starts);
    this.lengths = grow(this.lengths);
    this.hashes = grow(this.hashes);
    this.utf8 = grow(this.utf8);
  }

  private rehash(): void {
    const slots = new Int32Array((this.mask + 1) * 2);
    const mask = slots.length - 1;
    for (let e = 0; e < this.count; e++) {
      let s = (this.hashes[e] as number) & mask;
      while (slots[s] !== EMPTY) s = (s + 1) & mask;
      slots[s] = e + 1;
    }
    this.slots = slots;
    this.mask = mask;
  }
}
