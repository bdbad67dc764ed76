import { describe, expect, it } from 'vitest';
import { catchError, isUuid, uuidv5 } from './helpers.js';

const DNS = '6ba7b810-9dad-11d1-80b4-00c04fd430c8';
const URL_NS = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

describe('uuidv5', () => {
  it('matches published vectors', () => {
    expect(uuidv5('www.example.com', DNS)).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    // Python: uuid.uuid5(uuid.NAMESPACE_DNS, 'python.org'), uuid.uuid5(uuid.NAMESPACE_URL, 'http://python.org/')
    expect(uuidv5('python.org', DNS)).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
    expect(uuidv5('http://python.org/', URL_NS)).toBe('4c565f0d-3f5a-5890-b41b-20cf47701c5e');
  });

  it('gives the same answers from its memo, and after the memo fills and starts over', () => {
    const first = Array.from({ length: 50 }, (_, i) => uuidv5(String(i), DNS));
    for (let i = 0; i < 100_050; i++) uuidv5(`n${i}`, DNS);
    expect(Array.from({ length: 50 }, (_, i) => uuidv5(String(i), DNS))).toEqual(first);
    expect(uuidv5('www.example.com', DNS)).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    expect(uuidv5('www.example.com', DNS)).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('treats the namespace case-insensitively and sets version and variant', () => {
    const id = uuidv5('42', '6F1C4E8A-5B7D-4C2E-9A31-0D8E2F7B6C15');
    expect(id).toBe('79f69249-b6ee-5470-ab45-54b0d2f7c91c'); // Python uuid5 of the same inputs
    expect(id[14]).toBe('5');
    expect(['8', '9', 'a', 'b']).toContain(id[19]);
  });

  it('refuses a namespace that is not a UUID', () => {
    expect(catchError(() => uuidv5('x', 'not-a-uuid'), 'SPEC_INVALID').message).toContain('not-a-uuid');
  });

  it('recognises UUID strings', () => {
    expect(isUuid(DNS)).toBe(true);
    expect(isUuid(DNS.toUpperCase())).toBe(true);
    expect(isUuid(DNS.replaceAll('-', ''))).toBe(false);
    expect(isUuid(42)).toBe(false);
  });
});
