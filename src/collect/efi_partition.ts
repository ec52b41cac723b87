/**
 * Whether a disk holds an EFI system partition, read from its partition
 * table (MBR type 0xEF, or the GPT partition type GUID). It tells whether the
 * system installed on the disk boots with UEFI, which the firmware mode of
 * our own boot alone does not: a machine may start our medium in one mode
 * and its installed system in the other.
 *
 * The disk is opened read-only and only its first sectors and the GPT's
 * partition array are read.
 */

/** C12A7328-F81F-11D2-BA4B-00A0C93EC93B as GPT stores it (the first three fields little-endian). */
const ESP_TYPE_GUID = new Uint8Array([
  0x28,
  0x73,
  0x2a,
  0xc1,
  0x1f,
  0xf8,
  0xd2,
  0x11,
  0xba,
  0x4b,
  0x00,
  0xa0,
  0xc9,
  0x3e,
  0xc9,
  0x3b,
]);
const MBR_ESP = 0xef;
const MBR_PROTECTIVE = 0xee;
/** More than any real table has (128 is the usual count), and a bound on what we read. */
const MAX_GPT_ENTRIES = 1024;
const MAX_GPT_ENTRY_SIZE = 4096;

/** Reads `length` bytes at `offset`; fewer at the end of the disk. */
export type DiskReader = (offset: number, length: number) => Promise<Uint8Array>;

/** Yes, no, or undefined when the disk has no partition table we understand. */
export async function hasEfiSystemPartition(read: DiskReader): Promise<boolean | undefined> {
  const mbr = await read(0, 512);
  if (mbr.length < 512 || mbr[510] !== 0x55 || mbr[511] !== 0xaa) return undefined;
  const types = [0, 1, 2, 3].map((i) => mbr[446 + 16 * i + 4]);
  if (types.includes(MBR_ESP)) return true;
  if (!types.includes(MBR_PROTECTIVE)) return false;
  // The GPT header is in the second logical block, whose size we do not know.
  for (const sector of [512, 4096]) {
    const found = await gptHasEsp(read, sector);
    if (found !== undefined) return found;
  }
  return undefined;
}

async function gptHasEsp(read: DiskReader, sector: number): Promise<boolean | undefined> {
  const header = await read(sector, 92);
  if (header.length < 92 || new TextDecoder().decode(header.subarray(0, 8)) !== "EFI PART") {
    return undefined;
  }
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const entriesLba = Number(view.getBigUint64(72, true));
  const count = view.getUint32(80, true);
  const size = view.getUint32(84, true);
  if (count > MAX_GPT_ENTRIES || size < 128 || size > MAX_GPT_ENTRY_SIZE || size % 8 !== 0) {
    return undefined;
  }
  const offset = entriesLba * sector;
  if (!Number.isSafeInteger(offset)) return undefined;
  const entries = await read(offset, count * size);
  for (let at = 0; at + size <= entries.length; at += size) {
    if (ESP_TYPE_GUID.every((b, i) => entries[at + i] === b)) return true;
  }
  return false;
}

/** A reader over a file or block device opened read-only. */
export async function withDiskReader<T>(
  path: string,
  use: (read: DiskReader) => Promise<T>,
): Promise<T> {
  const file = await Deno.open(path, { read: true, write: false });
  try {
    return await use(async (offset, length) => {
      await file.seek(offset, Deno.SeekMode.Start);
      const out = new Uint8Array(length);
      let got = 0;
      while (got < length) {
        const n = await file.read(out.subarray(got));
        if (n === null) break;
        got += n;
      }
      return out.subarray(0, got);
    });
  } finally {
    file.close();
  }
}
