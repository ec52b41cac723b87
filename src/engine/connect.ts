/**
 * Opening the one SSH session of a run and testing the server.
 */
import type { Config } from "../config/types.ts";
import { describeError, UserError } from "../errors.ts";
import { identityUrlWarning, loadIdentity } from "../net/identity.ts";
import type { RemoteSession } from "../net/session.ts";
import {
  HostKeyMismatchError,
  type SshConnectOptions,
  SshError,
  SshSession,
} from "../net/ssh_session.ts";
import { probeServer, type ServerCapabilities } from "../remote/virt_v2v_probe.ts";
import {
  type LibvirtInventory,
  libvirtInventoryCommand,
  parseLibvirtInventory,
} from "../remote/output_target.ts";
import { checkReverseForwarding } from "../net/test_connection.ts";
import type { EventSink } from "./events.ts";
import { HostKeyChangedError, ServerLink } from "./link.ts";
import type { Timeouts } from "./timeouts.ts";

/** Opens an authenticated session; tests hand in one that speaks over an in-process stream. */
export type SessionOpener = (opts: SshConnectOptions) => Promise<RemoteSession>;

export const openSshSession: SessionOpener = (opts) => SshSession.connect(opts);

export interface ConnectedServer {
  capabilities: ServerCapabilities;
  /**
   * The session with a way back to the same server after a dropped link.
   * Its `close()` closes the session and forgets the credentials kept for that.
   */
  link: ServerLink;
}

/** The server as tested, and the config as this server spells its output. */
export interface ServerFit {
  capabilities: ServerCapabilities;
  config: Config;
}

export interface ConnectOptions {
  /** Skip the virt-v2v checks (known from an earlier test, or `p2v.skip_test_connection`). */
  skipTest?: boolean;
  /** Cancels the connection attempt. */
  signal?: AbortSignal;
  open?: SessionOpener;
  /** Keep-alives other than `timeouts`' (a conversion that can reconnect wants tighter ones). */
  keepalive?: { intervalMs: number; countMax: number };
}

/** The user name actually used to log in (`root` when none was given). */
export function loginName(config: Config): string {
  return config.auth.username ?? "root";
}

/** What a run knows of the server when the test connection was skipped. */
export const UNTESTED_SERVER: ServerCapabilities = {
  version: "unknown",
  coloursOption: false,
  inputs: [],
  outputs: [],
};

/**
 * Connect, authenticate and (unless `skipTest`) check virt-v2v and reverse
 * forwarding. On failure the session is closed and a UserError whose message
 * is the bare reason is thrown.
 */
export async function connectToServer(
  config: Config,
  emit: EventSink,
  timeouts: Timeouts,
  opts: ConnectOptions = {},
): Promise<ConnectedServer> {
  const server = config.remote.server;
  if (!server) throw new UserError("no conversion server given; set p2v.server");
  const username = loginName(config);
  const identityUrl = config.auth.identityUrl;
  const risk = identityUrl === undefined ? undefined : identityUrlWarning(identityUrl);
  if (risk) emit({ type: "warning", message: risk });
  const privateKey = identityUrl ? await loadIdentity(identityUrl) : undefined;

  emit({
    type: "phase",
    phase: "connecting",
    message: `Connecting to ${server}:${config.remote.port} as ${username} ...`,
  });
  const open = opts.open ?? openSshSession;
  const connectOptions = (connectTimeoutMs: number, pinnedHostKeys: string[]) => ({
    host: server,
    port: config.remote.port,
    credentials: {
      username,
      privateKey,
      // As in the original, the password is ignored when an identity is set.
      password: privateKey ? undefined : config.auth.password,
    },
    connectTimeoutMs,
    keepaliveIntervalMs: opts.keepalive?.intervalMs ?? timeouts.keepaliveIntervalMs,
    keepaliveCountMax: opts.keepalive?.countMax ?? timeouts.keepaliveCountMax,
    pinnedHostKeys,
  });
  // The key stays in memory only while a reconnect may need it.
  const release = () => privateKey?.fill(0);
  let session: RemoteSession;
  try {
    session = await open({
      ...connectOptions(timeouts.connectMs, config.remote.hostKeys),
      signal: opts.signal,
    });
  } catch (err) {
    release();
    throw asUserError(err);
  }
  emit({ type: "host-key", fingerprint: session.hostKeyFingerprint });
  const firstKey = [session.hostKeyFingerprint];
  const link = new ServerLink(
    session,
    (connectTimeoutMs) =>
      open(connectOptions(connectTimeoutMs, firstKey)).catch((err) => {
        throw err instanceof HostKeyMismatchError
          ? new HostKeyChangedError(`${server}:${config.remote.port}`, err.presented, firstKey[0])
          : asUserError(err);
      }),
    release,
  );

  if (opts.skipTest) return { capabilities: UNTESTED_SERVER, link };
  try {
    return { capabilities: await testServer(session, config, emit, timeouts), link };
  } catch (err) {
    link.close();
    throw err;
  }
}

/**
 * Checks virt-v2v on the server (and what it can write) and reverse
 * forwarding; throws the reason as a UserError (a ServerUnfitError when
 * the server answered but cannot convert).
 */
export async function testServer(
  session: RemoteSession,
  config: Config,
  emit: EventSink,
  timeouts: Timeouts,
): Promise<ServerCapabilities> {
  try {
    emit({ type: "phase", phase: "testing", message: "Testing the conversion server ..." });
    const probed = await probeServer(session, {
      sudo: config.auth.sudo,
      username: loginName(config),
      timeoutMs: timeouts.remoteCommandMs,
    });
    const capabilities = probed.outputs.includes("libvirt")
      ? { ...probed, libvirt: await libvirtInventory(session, config, timeouts.remoteCommandMs) }
      : probed;
    await checkReverseForwarding(session);
    emit({ type: "server", capabilities });
    return capabilities;
  } catch (err) {
    throw asUserError(err);
  }
}

function asUserError(err: unknown): UserError {
  if (err instanceof UserError) return err;
  if (err instanceof SshError) return new UserError(err.message, { cause: err });
  return new UserError(describeError(err), { cause: err });
}

/**
 * The server's libvirt pools and networks, as the conversion will see them
 * (the user, sudo, -oc); undefined when they cannot be had — the conversion
 * asks again before it exports anything, and says why there.
 */
async function libvirtInventory(
  session: RemoteSession,
  config: Config,
  timeoutMs: number,
): Promise<LibvirtInventory | undefined> {
  try {
    const command = libvirtInventoryCommand({
      sudo: config.auth.sudo,
      connection: config.output.connection,
      timeoutSeconds: Math.max(1, Math.ceil(timeoutMs / 1000)),
    });
    const r = await session.exec(command, { timeoutMs, what: "virsh pool-list" });
    const parsed = parseLibvirtInventory(r.stdout);
    return "inventory" in parsed ? parsed.inventory : undefined;
  } catch {
    return undefined;
  }
}
