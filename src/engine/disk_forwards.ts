/**
 * The disks of one conversion, from our export of each to what reaches the
 * conversion server: the loopback port physical.xml names, forwarded
 * straight to us, or — when the conversion can survive a dropped link — a
 * Unix socket in the remote directory that the server side (our fan-out or
 * a relay) connects to, as many times as the disk has channels. Each
 * connection the server makes is one SSH channel, handed to the disk's
 * export. This owns a disk's life on our end: export, forwards, their
 * renewal on a new session, progress, and the end of all of it.
 */
import type { Duplex } from "node:stream";
import { allocatedBytes } from "../nbd/allocated.ts";
import { diskSourcePath } from "../nbd/disk_size.ts";
import type { DiskExport, ExportEvents, ExportStarter } from "../nbd/export.ts";
import { ExportRequestCount } from "../nbd/request_counter.ts";
import type { RemoteSession, ReverseForward, SocketForward } from "../net/session.ts";
import { diskSocketPath } from "../remote/remote_dir.ts";
import { removeSocketsCommand } from "../remote/remote_commands.ts";
import { formatBytes } from "../text/units.ts";
import type { EventSink } from "./events.ts";
import type { RateLimit } from "../net/rate_limit.ts";
import { throttleOutgoing } from "../net/throttled_channel.ts";

interface ActiveDisk {
  name: string;
  export: DiskExport;
  /** What virt-v2v's copy will read of it (see `allocated.ts`); undefined when unknown. */
  dataBytes: number | undefined;
  /** What NBD clients asked of the export, through every channel. */
  requests: ExportRequestCount;
  /** The loopback port physical.xml names, forwarded straight to us… */
  forward?: ReverseForward;
  /** …or the socket the server side reaches us through. */
  socket?: SocketForward;
  /** Channels the server has opened to this disk, over the whole conversion. */
  channels: number;
}

export class DiskForwards {
  readonly #disks: ActiveDisk[] = [];
  readonly #reported = new Map<string, number>();

  /** `bandwidth`: the cap every disk's outgoing data passes, when there is one. */
  constructor(private readonly emit: EventSink, private readonly bandwidth?: RateLimit) {}

  /** What virt-v2v's copy will read of all disks together; undefined if one cannot tell. */
  static dataBytes(names: readonly string[]): {
    perDisk: Map<string, number | undefined>;
    total: number | undefined;
  } {
    const perDisk = new Map(names.map((name) => [name, allocatedBytes(diskSourcePath(name))]));
    const total = [...perDisk.values()].reduce<number | undefined>(
      (sum, bytes) => sum === undefined || bytes === undefined ? undefined : sum + bytes,
      0,
    );
    return { perDisk, total };
  }

  /** Starts the export of `name` and forwards a loopback port of the server to it. */
  async add(
    session: RemoteSession,
    name: string,
    startExport: ExportStarter,
    events: ExportEvents,
    dataBytes: number | undefined,
  ): Promise<void> {
    const diskExport = await startExport(diskSourcePath(name), events);
    const disk: ActiveDisk = {
      name,
      export: diskExport,
      requests: new ExportRequestCount(),
      dataBytes,
      channels: 0,
    };
    this.#disks.push(disk);
    disk.forward = await session.forwardIn((ch) => this.#serve(disk, ch));
  }

  get names(): string[] {
    return this.#disks.map((d) => d.name);
  }

  /** The loopback ports physical.xml names, disk by disk. */
  get ports(): number[] {
    return this.#disks.map((d) => d.forward!.port);
  }

  /** The sockets the server side reaches each disk through. */
  socketPaths(remoteDir: string): string[] {
    return this.#disks.map((_, i) => diskSocketPath(remoteDir, i));
  }

  /** Channels opened to each disk so far. */
  get channelCounts(): number[] {
    return this.#disks.map((d) => d.channels);
  }

  /** Forwards each disk's socket in the remote directory (on a new session: again). */
  async forwardSockets(session: RemoteSession, remoteDir: string): Promise<void> {
    for (const [i, d] of this.#disks.entries()) {
      d.socket = await session.forwardInSocket(
        diskSocketPath(remoteDir, i),
        (ch) => this.#serve(d, ch),
      );
    }
  }

  /** On a new session: the old sockets removed (the server may keep them), then forwarded again. */
  async reattach(session: RemoteSession, remoteDir: string, timeoutMs: number): Promise<void> {
    await session.exec(removeSocketsCommand(this.socketPaths(remoteDir)), { timeoutMs });
    await this.forwardSockets(session, remoteDir);
  }

  /** Stops forwarding the sockets (their forwarding failed half-way, say). */
  async dropSockets(session: RemoteSession): Promise<void> {
    for (const d of this.#disks) {
      if (d.socket) await session.unforwardInSocket(d.socket).catch(() => {});
      d.socket = undefined;
    }
  }

  /** Stops forwarding the ports: the server side now listens on them. */
  async dropPorts(session: RemoteSession): Promise<void> {
    for (const d of this.#disks) {
      if (d.forward) await session.unforwardIn(d.forward);
      d.forward = undefined;
    }
  }

  /** A progress event per disk; with `changedOnly`, only for disks that sent more since. */
  reportProgress(changedOnly = false): void {
    for (const d of this.#disks) {
      const bytesSent = d.export.bytesSent;
      if (changedOnly && this.#reported.get(d.name) === bytesSent) continue;
      this.#reported.set(d.name, bytesSent);
      this.emit({
        type: "disk-progress",
        disk: d.name,
        bytesSent,
        sizeBytes: d.export.size,
        dataBytes: d.dataBytes,
      });
    }
  }

  /**
   * Why this conversion's success cannot be trusted; undefined when it can.
   * virt-v2v cannot convert a disk without reading it (its inspection alone
   * reads partition tables and file system metadata), so a disk whose export
   * was asked nothing but handshakes was served to virt-v2v by something else
   * on the server.
   */
  implausible(): string | undefined {
    const unread = this.#disks.filter((d) => d.requests.requests === 0);
    if (unread.length === 0) return undefined;
    const names = unread.map((d) => d.name).join(", ");
    return `virt-v2v reported success, but it never read disk ${names} through our export ` +
      `(${unread.map((d) => formatBytes(d.export.bytesSent)).join(", ")} sent, handshakes only): ` +
      `it may have converted a disk that another program on the conversion server served in ` +
      `its place; do not use the converted guest before checking it`;
  }

  /** Ends every forward and export; harmless on a session already gone. */
  async stop(session: RemoteSession): Promise<void> {
    for (const d of this.#disks) {
      const packed = d.export.packed;
      if (packed && packed.raw > 0) {
        this.emit({
          type: "debug",
          message: `disk ${d.name}: ${formatBytes(packed.raw)} of data sent zstd-packed in ` +
            `${formatBytes(packed.wire)}`,
        });
      }
      if (d.forward) await session.unforwardIn(d.forward).catch(() => {});
      if (d.socket) await session.unforwardInSocket(d.socket).catch(() => {});
    }
    await Promise.all(this.#disks.map((d) => d.export.stop().catch(() => {})));
  }

  /** Hands a forwarded channel to the disk's export, counting what its client asks. */
  #serve(disk: ActiveDisk, channel: Duplex): void {
    disk.channels++;
    disk.requests.watch(channel);
    disk.export.attach(this.bandwidth ? throttleOutgoing(channel, this.bandwidth) : channel);
  }
}
