/**
 * Booting virt-p2v's boot media in QEMU (always TCG: KVM guests hang on
 * these machines) the way real machines boot them: the firmware (SeaBIOS,
 * OVMF, OVMF with Secure Boot on and Microsoft's keys), the medium (PXE
 * kernel + initramfs, a USB stick, a CD, a fixed disk), and the machine's
 * own disks. The serial port is QEMU's stdio: what a test reads and types.
 */
import { join } from "node:path";

/** From QEMU's start to its exit, per boot; TCG on two shared cores is slow. */
export const BOOT_TIMEOUT_MS = Number(Deno.env.get("VIRT_P2V_BOOT_TIMEOUT_MS") ?? 6 * 60_000);
/** RAM of the booted machine, in MiB. */
export const MEMORY_MIB = Deno.env.get("VIRT_P2V_BOOT_MEMORY") ?? "1024";

const OVMF = "/usr/share/OVMF";

export type Firmware = "bios" | "uefi" | "secureboot";

/** The machine and firmware arguments; UEFI gets its own copy of the variable store in `dir`. */
export async function firmwareArgs(firmware: Firmware, dir: string): Promise<string[]> {
  if (firmware === "bios") return ["-machine", "pc,accel=tcg"];
  const secure = firmware === "secureboot";
  const vars = join(dir, `ovmf-vars-${firmware}-${crypto.randomUUID().slice(0, 8)}.fd`);
  await Deno.copyFile(join(OVMF, secure ? "OVMF_VARS_4M.ms.fd" : "OVMF_VARS_4M.fd"), vars);
  return [
    ...["-machine", secure ? "q35,accel=tcg,smm=on" : "q35,accel=tcg"],
    ...(secure ? ["-global", "driver=cfi.pflash01,property=secure,value=on"] : []),
    ...[
      "-drive",
      `if=pflash,format=raw,readonly=on,file=${OVMF}/OVMF_CODE_4M${secure ? ".ms" : ""}.fd`,
    ],
    ...["-drive", `if=pflash,format=raw,file=${vars}`],
  ];
}

/** The serial port on stdio, no monitor, no window; user-mode networking only. */
export function commonArgs(): string[] {
  return [
    ...["-m", MEMORY_MIB, "-no-reboot", "-no-user-config", "-display", "none"],
    ...[
      "-chardev",
      "stdio,id=serial0,signal=off",
      "-serial",
      "chardev:serial0",
      "-monitor",
      "none",
    ],
    // The guest reaches nothing but this host's loopback (as 10.0.2.2).
    ...["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0,romfile="],
  ];
}

/** The same serial port, also logged to `logPath` (for a boot inside tmux). */
export function serialLogArgs(logPath: string): string[] {
  return commonArgs().map((a) =>
    a === "stdio,id=serial0,signal=off" ? `${a},logfile=${logPath},logappend=off` : a
  );
}

/** A USB stick in a USB 3 port, as the first boot device. */
export function usbStickArgs(image: string, format = "raw"): string[] {
  return [
    ...["-device", "qemu-xhci,id=xhci"],
    ...["-drive", `if=none,id=stick,format=${format},file=${image},snapshot=on`],
    ...["-device", "usb-storage,bus=xhci.0,drive=stick,removable=on,bootindex=1"],
  ];
}

/** A source disk; `writable` lets the guest write it (the test then checks it did not). */
export interface SourceDisk {
  path: string;
  bus: "virtio" | "nvme" | "sata";
  writable: boolean;
}

export function sourceDiskArgs(disks: SourceDisk[], firmware: Firmware): string[] {
  const args: string[] = [];
  let ahci = false;
  disks.forEach((d, i) => {
    const id = `src${i}`;
    args.push(
      "-drive",
      `file=${d.path},format=raw,if=none,id=${id}${d.writable ? "" : ",readonly=on"}`,
    );
    if (d.bus === "virtio") args.push("-device", `virtio-blk-pci,drive=${id}`);
    if (d.bus === "nvme") args.push("-device", `nvme,drive=${id},serial=p2vnvme${i}`);
    if (d.bus === "sata") {
      // q35 has an AHCI controller (bus ide.N); the PC machine gets one added.
      if (firmware === "bios" && !ahci) args.push("-device", "ahci,id=ahci");
      ahci = true;
      args.push("-device", `ide-hd,drive=${id},bus=${firmware === "bios" ? "ahci.0" : "ide.0"}`);
    }
  });
  return args;
}

export interface BootResult {
  code: number;
  /** The serial console, ANSI sequences and carriage returns removed. */
  console: string;
  connectedAfterMs?: number;
  totalMs: number;
  timedOut: boolean;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;?=]*[A-Za-z]|\x1b[()][0-9A-Za-z]|\x1b[=>78]/g;

export function plain(text: string): string {
  return text.replace(ANSI, "").replaceAll("\r", "");
}

/** Signs that a boot went wrong for good: no use waiting for the bound. */
const FAILED = /virt-p2v exited with status|Kernel panic|Attempted to kill init|Access Denied/;

export interface BootOptions {
  /** Typed on the serial port once the GRUB menu shows (a menu hotkey). */
  menuKey?: string;
}

/** Boots QEMU, copies the serial console to `logPath`, and waits for QEMU to exit. */
export async function boot(args: string[], logPath: string, opts: BootOptions = {}) {
  const log = await Deno.open(logPath, { write: true, create: true, truncate: true });
  const started = performance.now();
  const child = new Deno.Command("qemu-system-x86_64", {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdin = child.stdin.getWriter();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, BOOT_TIMEOUT_MS);

  let text = "";
  let connectedAfterMs: number | undefined;
  let failedEarly = false;
  let typed = opts.menuKey === undefined;
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      await log.write(chunk);
      text += decoder.decode(chunk, { stream: true });
      if (!typed && text.includes("virt-p2v: convert unattended")) {
        typed = true;
        await stdin.write(new TextEncoder().encode(opts.menuKey)).catch(() => {});
      }
      if (connectedAfterMs === undefined && text.includes("Connecting to ")) {
        connectedAfterMs = performance.now() - started;
      }
      if (!failedEarly && FAILED.test(text)) {
        failedEarly = true;
        setTimeout(() => child.kill("SIGKILL"), 2_000);
      }
    }
  };
  await Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = await child.status;
  clearTimeout(timer);
  await stdin.close().catch(() => {});
  log.close();
  return {
    code: status.code,
    console: plain(text),
    connectedAfterMs,
    totalMs: performance.now() - started,
    timedOut,
  } satisfies BootResult;
}

export const seconds = (ms?: number) => ms === undefined ? "never" : `${(ms / 1000).toFixed(1)} s`;

/** The image's own timeline (seconds since the kernel started), for the CI log. */
export function timeline(console: string): string {
  return console.split("\n")
    .filter((l) => /^virt-p2v-init: |^Connecting to |^Conversion finished|EFI stub: /.test(l))
    .join("\n");
}
