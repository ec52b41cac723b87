/**
 * ssh2's own SSH server, run inside the test process and reached over a
 * Unix-domain socket pair: a real SSH implementation (key exchange, channels,
 * PTY and forwarding requests) whose every reaction the test chooses, so the
 * engine's rare branches can be driven on purpose. No sshd, no network; only
 * the reverse forwards listen on 127.0.0.1, as they would on a real server.
 */
import { Buffer } from "node:buffer";
import * as net from "node:net";
import { join } from "node:path";
// @ts-types="npm:@types/ssh2@1.15.6"
import ssh2 from "ssh2";
import type { SessionOpener } from "../../src/engine/connect.ts";
import { SshSession } from "../../src/net/ssh_session.ts";
import { run } from "./process.ts";
import { tempDir } from "./cleanup.ts";

type ServerChannel = ssh2.ServerChannel;
type Connection = ssh2.Connection;

export interface ExecContext {
  command: string;
  channel: ServerChannel;
  pty: boolean;
  /** Drop the whole connection, as a dead link or a killed sshd would. */
  drop(): void;
}

export interface TestServerOptions {
  /** Answers every exec request. */
  exec: (ctx: ExecContext) => void;
  /** Accept reverse forwards (default true). */
  allowForwarding?: boolean;
  /** Accept reverse forwards of Unix sockets (default true). */
  allowSocketForwarding?: boolean;
}

export interface InProcessServer {
  open: SessionOpener;
  /** Commands exec'd so far, in order. */
  commands: string[];
  /** Ports of the reverse forwards currently open. */
  forwards: number[];
  /** Socket paths of the Unix socket forwards currently open. */
  socketForwards: string[];
  /** Connections made so far. */
  connections: number;
  /** Drop every connection, as a dead link or a killed sshd would. */
  dropAll(): void;
  /** Refuse (`false`) or accept again new connections. */
  accepting: boolean;
  /** `SHA256:…` fingerprints of the server's own host key and of another one it can show instead. */
  hostKeys: { own: string; other: string };
  /** New connections see the other host key (`true`), as from a reinstalled server or an impostor. */
  presentOtherHostKey: boolean;
  close(): Promise<void>;
}

export async function startInProcessServer(opts: TestServerOptions): Promise<InProcessServer> {
  const dir = await tempDir({ prefix: "p2v-inproc." });
  const socketPath = join(dir, "ssh.sock");
  // ssh-keygen, not ssh2.utils.generateKeyPairSync: under Deno about one ed25519
  // key in 150 of the latter fails to parse ("Malformed OpenSSH private key").
  const newHostKey = async (name: string) => {
    const path = join(dir, name);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path]);
    const listed = await run("ssh-keygen", ["-l", "-E", "sha256", "-f", path]);
    return { key: await Deno.readTextFile(path), fingerprint: listed.stdout.split(" ")[1] };
  };
  const own = await newHostKey("host_key");
  const other = await newHostKey("other_host_key");
  const commands: string[] = [];
  const forwards: number[] = [];
  const socketForwards: string[] = [];
  const listeners = new Map<number, net.Server>();
  const socketListeners = new Map<string, net.Server>();
  const sockets = new Set<net.Socket>();

  // Our client forwards Unix sockets only to servers that say they are OpenSSH.
  const ident = "OpenSSH_9.2p1 in-process";
  const onClient = (client: Connection) => {
    const drop = () => {
      for (const s of sockets) s.destroy();
    };
    client.on("error", () => {});
    client.on("authentication", (ctx) => ctx.accept());
    client.on("ready", () => {
      client.on("session", (accept) => {
        const session = accept();
        let pty = false;
        session.on("pty", (ok) => {
          pty = true;
          ok?.();
        });
        session.on("exec", (ok, _reject, info) => {
          commands.push(info.command);
          const channel = ok();
          channel.on("error", () => {});
          opts.exec({ command: info.command, channel, pty, drop });
        });
      });
      // @types/ssh2 lists only the TCP requests; ssh2 passes the streamlocal ones too.
      client.on("request", (ok, reject, kind, info) => {
        const name = kind as string;
        if (name === "tcpip-forward" && opts.allowForwarding !== false) {
          const req = info as { bindAddr: string };
          // Connections to this port come back to the client as forwarded-tcpip channels.
          const listener = net.createServer((conn) => {
            const port = (listener.address() as net.AddressInfo).port;
            client.forwardOut(req.bindAddr, port, "127.0.0.1", conn.remotePort ?? 0, (err, ch) => {
              if (err) return conn.destroy();
              conn.pipe(ch).pipe(conn);
              conn.on("error", () => ch.destroy());
              ch.on("error", () => conn.destroy());
            });
          });
          listener.listen(0, "127.0.0.1", () => {
            const port = (listener.address() as net.AddressInfo).port;
            listeners.set(port, listener);
            forwards.push(port);
            ok?.(port);
          });
        } else if (
          name === "streamlocal-forward@openssh.com" && opts.allowSocketForwarding !== false
        ) {
          const path = (info as unknown as { socketPath: string }).socketPath;
          const listener = net.createServer((conn) => {
            client.openssh_forwardOutStreamLocal(path, (err, ch) => {
              if (err) return conn.destroy();
              conn.pipe(ch).pipe(conn);
              conn.on("error", () => ch.destroy());
              ch.on("error", () => conn.destroy());
            });
          });
          listener.on("error", () => reject?.());
          // Like sshd: the socket file stays when the listener goes.
          listener.listen(path, () => {
            socketListeners.set(path, listener);
            socketForwards.push(path);
            ok?.();
          });
          client.on("close", () => {
            listener.close();
            socketListeners.delete(path);
            const i = socketForwards.indexOf(path);
            if (i >= 0) socketForwards.splice(i, 1);
          });
        } else if (name === "cancel-streamlocal-forward@openssh.com") {
          const path = (info as unknown as { socketPath: string }).socketPath;
          socketListeners.get(path)?.close();
          socketListeners.delete(path);
          const i = socketForwards.indexOf(path);
          if (i >= 0) socketForwards.splice(i, 1);
          ok?.();
        } else if (name === "cancel-tcpip-forward") {
          const port = (info as { bindPort: number }).bindPort;
          listeners.get(port)?.close();
          listeners.delete(port);
          forwards.splice(forwards.indexOf(port), 1);
          ok?.();
        } else {
          reject?.();
        }
      });
    });
  };
  const sshServer = new ssh2.Server({ hostKeys: [own.key], ident }, onClient);
  const otherServer = new ssh2.Server({ hostKeys: [other.key], ident }, onClient);

  const state = { accepting: true, connections: 0, presentOtherHostKey: false };
  const listener = net.createServer((sock) => {
    if (!state.accepting) {
      sock.destroy();
      return;
    }
    state.connections++;
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    (state.presentOtherHostKey ? otherServer : sshServer).injectSocket(sock);
  });
  await new Promise<void>((resolve) => listener.listen(socketPath, resolve));

  const open: SessionOpener = (connectOpts) =>
    new Promise((resolve, reject) => {
      const sock = net.createConnection(socketPath, () => {
        SshSession.connect({ ...connectOpts, sock }).then(resolve, reject);
      });
      sock.on("error", reject);
    });

  return {
    open,
    commands,
    forwards,
    socketForwards,
    get connections() {
      return state.connections;
    },
    dropAll() {
      for (const s of sockets) s.destroy();
    },
    get accepting() {
      return state.accepting;
    },
    set accepting(value: boolean) {
      state.accepting = value;
    },
    hostKeys: { own: own.fingerprint, other: other.fingerprint },
    get presentOtherHostKey() {
      return state.presentOtherHostKey;
    },
    set presentOtherHostKey(value: boolean) {
      state.presentOtherHostKey = value;
    },
    async close() {
      for (const s of sockets) s.destroy();
      for (const l of listeners.values()) l.close();
      for (const l of socketListeners.values()) l.close();
      await new Promise((r) => listener.close(r));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Run `ctx.command` with a real bash on this machine, as sshd would: stdin,
 * stdout and stderr wired to the channel, the exit status reported back.
 */
export function runInBash(ctx: ExecContext, env: Record<string, string> = {}): void {
  const child = new Deno.Command("bash", {
    args: ["-c", ctx.command],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
  const writer = child.stdin.getWriter();
  ctx.channel.on("data", (d: Buffer) => writer.write(new Uint8Array(d)).catch(() => {}));
  ctx.channel.on("end", () => writer.close().catch(() => {}));
  ctx.channel.on("close", () => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
  });
  const pump = async (stream: ReadableStream<Uint8Array>, to: (b: Buffer) => void) => {
    for await (const chunk of stream) to(Buffer.from(chunk));
  };
  Promise.all([
    pump(child.stdout, (b) => ctx.channel.write(b)),
    pump(child.stderr, (b) => ctx.channel.stderr.write(b)),
  ]).then(async () => {
    const status = await child.status;
    try {
      ctx.channel.exit(status.code);
      ctx.channel.end();
    } catch { /* the channel is gone */ }
  });
}
