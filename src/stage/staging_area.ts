/**
 * The staging area on the conversion server, as our copy there keeps it:
 * `AREA/NAME/` (mode 0700) holds `binding.json`, one sparse image per disk
 * (`disk-0.img`, …) with its kept hashes (`disk-0.hashes`), `state` (the
 * last step that completed) and, while a run holds it, `run.sock`. Every
 * operation here runs on the server, started by `virt-p2v --stage …`.
 */
import fs from "node:fs";
import { bindingMismatch, parseBinding, type StageBinding } from "./binding.ts";
import { UserError } from "../errors.ts";
import { hashIndexPath } from "./hash_index.ts";

export const BINDING_FILE = "binding.json";
export const STATE_FILE = "state";
/** Where the run holding a staged conversion listens (see staging_service.ts). */
export const SOCKET_FILE = "run.sock";
/** A staged conversion's name: the guest name's alphabet. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;
/** The most a binding file may hold (64 disks fit in a few KiB). */
const MAX_BINDING_BYTES = 64 * 1024;

export type StagedState = "precopy" | "cutover";

export function stagedDir(area: string, name: string): string {
  if (!area.startsWith("/")) throw new UserError(`the staging area ${area} is not absolute`);
  if (!SAFE_NAME.test(name)) throw new UserError(`"${name}" cannot name a staged conversion`);
  return `${area}/${name}`;
}

export function stagedImage(dir: string, disk: number): string {
  return `${dir}/disk-${disk}.img`;
}

export function stagingSocket(dir: string): string {
  return `${dir}/${SOCKET_FILE}`;
}

/** The socket of the run that holds AREA/NAME, in a directory checked to be ours. */
export function heldStagingSocket(area: string, name: string): string {
  return stagingSocket(boundOpen(area, name).dir);
}

export interface OpenRequest {
  binding: StageBinding;
  /** A cutover needs a staged copy already there; a pre-copy makes one. */
  step: StagedState;
}

/** A directory of ours: not a link, owned by us, nobody else may enter. */
function checkOwnDirectory(dir: string): void {
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new UserError(`${dir} is not a directory`);
  if (st.uid !== Deno.uid()) {
    throw new UserError(`${dir} belongs to another user: it cannot hold our staged copy`);
  }
  if ((st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
}

function readBinding(dir: string): StageBinding | undefined {
  let text: string;
  try {
    const st = fs.lstatSync(`${dir}/${BINDING_FILE}`);
    if (!st.isFile() || st.size > MAX_BINDING_BYTES) return undefined;
    text = fs.readFileSync(`${dir}/${BINDING_FILE}`, "utf8");
  } catch {
    return undefined;
  }
  try {
    return parseBinding(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** Bytes a file takes on disk (0 when it is not there). */
function allocatedBytes(path: string): number {
  try {
    return fs.statSync(path).blocks * 512;
  } catch {
    return 0;
  }
}

/** How long an open waits for a listing's glance at the lock to pass. */
const LOCK_WAIT_MS = 1000;
/** How long a removal waits for the conversion's job to let go as it ends. */
const REMOVE_LOCK_WAIT_MS = 15_000;

/**
 * Takes the staged conversion's lock: an exclusive flock on its directory,
 * held until the returned file is closed (or its process ends, however).
 */
async function lockStaged(dir: string, waitMs = LOCK_WAIT_MS): Promise<Deno.FsFile> {
  const file = Deno.openSync(dir, { read: true });
  const until = Date.now() + waitMs;
  while (!file.tryLockSync(true)) {
    if (Date.now() >= until) {
      file.close();
      throw new UserError(
        `another run is using the staged copy at ${dir} right now: wait for it to end, or stop it`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return file;
}

/** Whether a run holds the staged conversion in `dir` now. */
function heldByARun(dir: string): boolean {
  let file: Deno.FsFile | undefined;
  try {
    file = Deno.openSync(dir, { read: true });
    if (!file.tryLockSync(false)) return true;
    file.unlockSync();
    return false;
  } catch {
    return false;
  } finally {
    file?.close();
  }
}

/** A staged conversion opened for a run: `lock` keeps other runs out until it is closed. */
export interface OpenedStaging {
  dir: string;
  binding: StageBinding;
  /** Bytes free in the staging area, and the most the staged copy may still need. */
  free: number;
  needed: number;
  lock: Deno.FsFile;
}

/**
 * Takes the lock, checks the binding (or makes the staging, for a
 * pre-copy), checks there is room for what is not staged yet, and sizes
 * each disk's image.
 */
export async function openStaging(
  area: string,
  name: string,
  req: OpenRequest,
): Promise<OpenedStaging> {
  const dir = stagedDir(area, name);
  fs.mkdirSync(area, { recursive: true, mode: 0o700 });
  let fresh = false;
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
    fresh = true;
  } catch (err) {
    if ((err as { code?: string }).code !== "EEXIST") throw err;
  }
  checkOwnDirectory(dir);
  const lock = await lockStaged(dir);
  try {
    return { dir, binding: req.binding, ...checkAndSize(dir, area, fresh, req), lock };
  } catch (err) {
    lock.close();
    throw err;
  }
}

function checkAndSize(
  dir: string,
  area: string,
  fresh: boolean,
  req: OpenRequest,
): { free: number; needed: number } {
  const staged = fresh ? undefined : readBinding(dir);
  if (staged === undefined) {
    if (req.step === "cutover") {
      if (fresh) fs.rmdirSync(dir);
      throw new UserError(
        `there is no staged copy at ${dir} on the conversion server: run the pre-copy ` +
          `(p2v.stage=precopy) on the running machine first`,
      );
    }
    if (!fresh && fs.readdirSync(dir).length > 0) {
      throw new UserError(`${dir} holds files that are not a staged copy of ours; name another`);
    }
  } else {
    const why = bindingMismatch(staged, req.binding);
    if (why !== undefined) {
      throw new UserError(`refused: the staged copy at ${dir} is not this machine's: ${why}`);
    }
  }
  const needed = req.binding.disks.reduce(
    (n, d, i) => n + Math.max(0, d.size - allocatedBytes(stagedImage(dir, i))),
    0,
  );
  const st = fs.statfsSync(dir);
  const free = st.bavail * st.bsize;
  if (needed > free) {
    throw new UserError(
      `the staging area ${area} has ${free} bytes free, and the staged copy needs up to ` +
        `${needed} more: free some room or name another p2v.stage.dir`,
    );
  }
  // The binding first: a staging cut short here is still ours, and completed next time.
  if (staged === undefined) {
    writeAtomically(`${dir}/${BINDING_FILE}`, JSON.stringify(req.binding) + "\n");
  }
  req.binding.disks.forEach((d, i) => {
    const fd = fs.openSync(stagedImage(dir, i), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    try {
      if (fs.fstatSync(fd).size !== d.size) fs.ftruncateSync(fd, d.size);
    } finally {
      fs.closeSync(fd);
    }
  });
  return { free, needed };
}

function writeAtomically(path: string, text: string): void {
  const tmp = `${path}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, path);
}

function boundOpen(area: string, name: string): { dir: string; binding: StageBinding } {
  const dir = stagedDir(area, name);
  checkOwnDirectory(dir);
  const binding = readBinding(dir);
  if (binding === undefined) throw new UserError(`there is no staged copy at ${dir}`);
  return { dir, binding };
}

/** Records that `state` completed, in the staged directory `dir` (held by the caller). */
export function markStaged(dir: string, state: StagedState): void {
  writeAtomically(`${dir}/${STATE_FILE}`, `${state} ${new Date().toISOString()}\n`);
}

export interface StagedListing {
  name: string;
  machine: string;
  disks: { name: string; size: number }[];
  /** Bytes the staged images take on the server's disk. */
  allocatedBytes: number;
  /** When it was made, and when a step last completed (ISO 8601). */
  created: string;
  updated: string;
  state: StagedState | "incomplete";
  /** A run has it open now. */
  inUse: boolean;
}

/** The staged conversions in `area` that we can read, one JSON line each. */
export function listStaged(area: string): string {
  let names: string[];
  try {
    names = fs.readdirSync(area).sort();
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return "";
    throw err;
  }
  const lines: string[] = [];
  for (const name of names) {
    if (!SAFE_NAME.test(name)) continue;
    const dir = `${area}/${name}`;
    const binding = readBinding(dir);
    if (binding === undefined) continue;
    let state: StagedListing["state"] = "incomplete";
    let updated = "";
    try {
      const [word, when] = fs.readFileSync(`${dir}/${STATE_FILE}`, "utf8").trim().split(" ");
      if (word === "precopy" || word === "cutover") state = word;
      updated = when ?? "";
    } catch { /* no step completed yet */ }
    const listing: StagedListing = {
      name,
      machine: binding.machine,
      disks: binding.disks.map((d) => ({ name: d.name, size: d.size })),
      allocatedBytes: binding.disks.reduce(
        (n, _d, i) => n + allocatedBytes(stagedImage(dir, i)),
        0,
      ),
      created: fs.statSync(`${dir}/${BINDING_FILE}`).mtime.toISOString(),
      updated,
      state,
      inUse: heldByARun(dir),
    };
    lines.push(JSON.stringify(listing));
  }
  return lines.map((l) => l + "\n").join("");
}

/**
 * Removes a staged copy of ours (a directory holding our binding file, and
 * nothing else), once no run holds it.
 */
export async function removeStaged(area: string, name: string): Promise<void> {
  const { dir, binding } = boundOpen(area, name);
  const lock = await lockStaged(dir, REMOVE_LOCK_WAIT_MS);
  try {
    removeUnlocked(dir, binding);
  } finally {
    lock.close();
  }
}

function removeUnlocked(dir: string, binding: StageBinding): void {
  const ours = new Set([
    BINDING_FILE,
    `${BINDING_FILE}.tmp`,
    STATE_FILE,
    `${STATE_FILE}.tmp`,
    SOCKET_FILE,
  ]);
  binding.disks.forEach((_d, i) => {
    const image = stagedImage(dir, i);
    for (const path of [image, hashIndexPath(image), `${hashIndexPath(image)}.tmp`]) {
      ours.add(path.slice(dir.length + 1));
    }
  });
  const strangers = fs.readdirSync(dir).filter((f) => !ours.has(f));
  if (strangers.length > 0) {
    throw new UserError(`${dir} holds files that are not ours (${strangers[0]}): left in place`);
  }
  for (const f of fs.readdirSync(dir)) fs.unlinkSync(`${dir}/${f}`);
  fs.rmdirSync(dir);
}
