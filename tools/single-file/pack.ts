/**
 * Packs dist/virt-p2v, the single-file build: the static launcher
 * (launcher.c) followed by the Deno runtime, the dynamic loader and every
 * library the runtime and OpenSSL's libcrypto load, and the bundled program,
 * each cut into zstd frames that the launcher unpacks in parallel. The layout
 * is described at the top of launcher.c.
 *
 *   deno run -A tools/single-file/pack.ts --launcher L --runtime DENO \
 *     --program dist/virt-p2v.js --out dist/virt-p2v [--codec lz4|zstd] [--built-from TEXT]
 *
 * Compressing the runtime takes about a minute, so each frame is kept in a
 * cache keyed by its content (VIRT_P2V_BUILD_CACHE, else
 * ~/.cache/virt-p2v/build): only the program's frames change between builds.
 */
import { basename, join } from "node:path";
import { createHash } from "node:crypto";

/** What the launcher does with a part (launcher.c's roles). */
export type PartRole = "loader" | "library" | "runtime" | "program" | "info";

const ROLE_BYTE: Record<PartRole, number> = {
  loader: 0x4c, // 'L'
  library: 0x53, // 'S'
  runtime: 0x52, // 'R'
  program: 0x50, // 'P'
  info: 0x49, // 'I'
};

export interface Part {
  role: PartRole;
  name: string;
  data: Uint8Array;
}

/** One compressed frame as placed in the output file. */
export interface PlacedFrame {
  offset: number;
  compressed: number;
  size: number;
}

export const TRAILER_MAGIC = "VP2VSFX1";
/** Frames are unpacked in parallel; 16 MiB costs ~1% of ratio against one frame. */
export const FRAME_SIZE = 16 * 1024 * 1024;
/**
 * How frames are compressed. LZ4 unpacks ~3× faster than zstd here (what
 * every start waits for); zstd makes a file ~25% smaller (what a PXE boot
 * downloads). Both check their content.
 */
export type Codec = "lz4" | "zstd";
const CODEC_COMMAND: Record<Codec, string[]> = {
  lz4: ["lz4", "-12", "-q", "-c"],
  zstd: ["zstd", "-19", "--long=24", "-q", "-c", "--no-progress"],
};

/** The index and trailer that follow the frames (launcher.c parses them). */
export function encodeIndex(
  parts: { role: PartRole; name: string; size: number; frames: PlacedFrame[] }[],
  indexOffset: number,
): Uint8Array {
  const chunks: number[] = [];
  const u32 = (v: number) => {
    for (let i = 0; i < 4; i++) chunks.push(Math.floor(v / 2 ** (8 * i)) & 0xff);
  };
  const u64 = (v: number) => {
    for (let i = 0; i < 8; i++) chunks.push(Math.floor(v / 2 ** (8 * i)) & 0xff);
  };
  u32(parts.length);
  for (const part of parts) {
    const name = new TextEncoder().encode(part.name);
    if (name.length > 255) throw new Error(`part name too long: ${part.name}`);
    chunks.push(ROLE_BYTE[part.role], name.length, ...name);
    u64(part.size);
    u32(part.frames.length);
    for (const frame of part.frames) {
      u64(frame.offset);
      u64(frame.compressed);
      u64(frame.size);
    }
  }
  const indexSize = chunks.length;
  chunks.push(...new TextEncoder().encode(TRAILER_MAGIC));
  u64(indexOffset);
  u64(indexSize);
  return new Uint8Array(chunks);
}

async function compress(data: Uint8Array, codec: Codec): Promise<Uint8Array> {
  const [command, ...args] = CODEC_COMMAND[codec];
  const child = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writing = (async () => {
    const writer = child.stdin.getWriter();
    await writer.write(data);
    await writer.close();
  })();
  const [out] = await Promise.all([child.output(), writing]);
  if (!out.success) {
    throw new Error(`${command} failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return out.stdout;
}

/** One frame compressed, from the cache when this exact frame was packed before. */
async function compressFrame(
  data: Uint8Array,
  codec: Codec,
  cacheDir: string,
): Promise<Uint8Array> {
  const key = createHash("sha256").update(CODEC_COMMAND[codec].join(" ")).update(data)
    .digest("hex");
  const cached = join(cacheDir, `${key}.${codec}`);
  try {
    return await Deno.readFile(cached);
  } catch { /* not packed before */ }
  const packed = await compress(data, codec);
  await Deno.mkdir(cacheDir, { recursive: true });
  const partial = `${cached}.${Deno.pid}`;
  await Deno.writeFile(partial, packed);
  await Deno.rename(partial, cached);
  return packed;
}

/** Runs `jobs` with at most `width` at once, keeping their order in the result. */
async function inParallel<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const lane = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, jobs.length)) }, lane));
  return results;
}

/** Writes launcher + frames + index + trailer to `out`; returns the file's size. */
export async function pack(
  launcher: Uint8Array,
  parts: Part[],
  out: string,
  codec: Codec,
  cacheDir: string,
): Promise<number> {
  const frameJobs: { part: number; data: Uint8Array }[] = [];
  parts.forEach((part, i) => {
    for (let at = 0; at < part.data.length; at += FRAME_SIZE) {
      frameJobs.push({ part: i, data: part.data.subarray(at, at + FRAME_SIZE) });
    }
  });
  const compressed = await inParallel(
    frameJobs.map((job) => () =>
      // The build line is read as it is (launcher.c).
      parts[job.part].role === "info"
        ? Promise.resolve(job.data)
        : compressFrame(job.data, codec, cacheDir)
    ),
    navigator.hardwareConcurrency,
  );
  const placed = parts.map((part) => ({
    role: part.role,
    name: part.name,
    size: part.data.length,
    frames: [] as PlacedFrame[],
  }));
  const partial = `${out}.${Deno.pid}.partial`;
  const file = await Deno.open(partial, { write: true, create: true, truncate: true, mode: 0o755 });
  try {
    let offset = 0;
    const write = async (bytes: Uint8Array) => {
      for (let done = 0; done < bytes.length;) done += await file.write(bytes.subarray(done));
      offset += bytes.length;
    };
    await write(launcher);
    for (const [i, job] of frameJobs.entries()) {
      placed[job.part].frames.push({
        offset,
        compressed: compressed[i].length,
        size: job.data.length,
      });
      await write(compressed[i]);
    }
    await write(encodeIndex(placed, offset));
    await Deno.chmod(partial, 0o755);
    await Deno.rename(partial, out);
    return offset;
  } finally {
    file.close();
  }
}

/** The shared objects `elf` loads, as ldd reports them: [soname path, ...] and the loader. */
export function parseLdd(text: string): { libraries: string[]; loader?: string } {
  const libraries: string[] = [];
  let loader: string | undefined;
  for (const line of text.split("\n")) {
    const arrow = line.match(/^\s*(\S+) => (\/\S+) \(/);
    if (arrow) {
      libraries.push(arrow[2]);
      continue;
    }
    const bare = line.match(/^\s*(\/\S+) \(/);
    if (bare) loader = bare[1];
  }
  return { libraries, loader };
}

async function ldd(path: string): Promise<{ libraries: string[]; loader?: string }> {
  const out = await new Deno.Command("ldd", { args: [path], stderr: "piped" }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success || text.includes("not found")) {
    const missing = text.split("\n").filter((l) => l.includes("not found")).join("; ");
    throw new Error(
      `ldd ${path} failed: ${missing || new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
  return parseLdd(text);
}

/** The system's OpenSSL 3 libcrypto (what src/net/libcrypto.ts loads), if installed. */
async function findLibcrypto(): Promise<string | undefined> {
  const out = await new Deno.Command("ldconfig", { args: ["-p"], stderr: "null" }).output()
    .catch(() => undefined);
  if (!out?.success) return undefined;
  const line = new TextDecoder().decode(out.stdout).split("\n")
    .find((l) => l.trim().startsWith("libcrypto.so.3 ") && l.includes("x86-64"));
  return line?.split(" => ")[1]?.trim();
}

async function runtimeVersion(runtime: string): Promise<string | undefined> {
  const out = await new Deno.Command(runtime, { args: ["--version"], stderr: "null" }).output();
  return new TextDecoder().decode(out.stdout).match(/^deno \d+\.\d+\.\d+/)?.[0];
}

function versionIn(bytes: Uint8Array, pattern: RegExp): string | undefined {
  return new TextDecoder("latin1").decode(bytes).match(pattern)?.[0];
}

async function main(args: string[]): Promise<number> {
  const opts = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    if (!args[i].startsWith("--") || args[i + 1] === undefined) {
      console.error(`pack.ts: expected --NAME VALUE pairs, got "${args[i]}"`);
      return 2;
    }
    opts.set(args[i].slice(2), args[i + 1]);
  }
  const need = (name: string) => {
    const v = opts.get(name);
    if (v === undefined) throw new Error(`--${name} is required`);
    return v;
  };
  const runtime = need("runtime");
  const home = Deno.env.get("HOME") ?? "/root";
  const cacheDir = Deno.env.get("VIRT_P2V_BUILD_CACHE") ??
    join(Deno.env.get("XDG_CACHE_HOME") ?? join(home, ".cache"), "virt-p2v", "build");

  const deps = await ldd(runtime);
  if (!deps.loader) throw new Error(`ldd ${runtime} names no dynamic loader`);
  const libraries = [...deps.libraries];
  const crypto = await findLibcrypto();
  if (crypto) {
    const its = await ldd(crypto);
    for (const lib of [crypto, ...its.libraries]) {
      if (!libraries.some((l) => basename(l) === basename(lib))) libraries.push(lib);
    }
  }
  const read = (p: string) => Deno.readFile(p);
  const libraryParts: Part[] = await Promise.all(libraries.map(async (lib) => ({
    role: "library" as const,
    name: basename(lib),
    data: await read(lib),
  })));
  // The versions are read from the bytes that go into the file.
  const partData = (name: string) => libraryParts.find((p) => p.name === name)?.data;
  const libcBytes = partData("libc.so.6");
  const cryptoBytes = partData("libcrypto.so.3");
  const built = [
    opts.get("built-from"),
    await runtimeVersion(runtime),
    libcBytes &&
    versionIn(libcBytes, /GNU C Library \([^)]*\) (stable release )?version \d+\.\d+/)
      ?.replace(/.* version /, "glibc "),
    cryptoBytes ? versionIn(cryptoBytes, /OpenSSL \d+\.\d+\.\d+/) : "no libcrypto",
  ].filter((s) => s).join(", ");

  const parts: Part[] = [
    { role: "loader", name: basename(deps.loader), data: await read(deps.loader) },
    ...libraryParts,
    { role: "runtime", name: "deno", data: await read(runtime) },
    { role: "program", name: "virt-p2v.js", data: await read(need("program")) },
    { role: "info", name: "built-from", data: new TextEncoder().encode(built) },
  ];
  const codec = opts.get("codec") ?? "lz4";
  if (codec !== "lz4" && codec !== "zstd") {
    throw new Error(`--codec must be lz4 or zstd, not ${codec}`);
  }
  const size = await pack(await read(need("launcher")), parts, need("out"), codec, cacheDir);
  console.log(`packed ${need("out")}: ${(size / 2 ** 20).toFixed(1)} MiB (${built})`);
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (err) {
    console.error(`pack.ts: ${err instanceof Error ? err.message : err}`);
    Deno.exit(1);
  }
}
