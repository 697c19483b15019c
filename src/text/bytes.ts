// GPT-2 / CLIP byte-level alphabet: every byte 0..255 maps to one printable
// Unicode character, so that BPE merges can address any UTF-8 byte sequence
// without whitespace or control characters inside tokens.

/** Byte -> character table, in the order that defines token ids 0..255. */
export function bytesToUnicode(): string[] {
  const printable: number[] = [];
  const add = (a: number, b: number) => {
    for (let c = a; c <= b; c++) printable.push(c);
  };
  add(0x21, 0x7e); // '!'..'~'
  add(0xa1, 0xac); // '¡'..'¬'
  add(0xae, 0xff); // '®'..'ÿ'
  const table = new Array<string>(256);
  const isPrintable = new Set(printable);
  for (const b of printable) table[b] = String.fromCodePoint(b);
  // Remaining bytes (controls, space, soft hyphen, ...) are shifted to 256+.
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!isPrintable.has(b)) table[b] = String.fromCodePoint(256 + n++);
  }
  return table;
}

/** The 256 base symbols in vocabulary order (printable bytes first, then the shifted ones). */
export function byteSymbolsInVocabOrder(): string[] {
  const table = bytesToUnicode();
  const order: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) order.push(b);
  for (let b = 0xa1; b <= 0xac; b++) order.push(b);
  for (let b = 0xae; b <= 0xff; b++) order.push(b);
  for (let b = 0; b < 256; b++) if (!order.includes(b)) order.push(b);
  return order.map((b) => table[b]!);
}
