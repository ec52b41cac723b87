/**
 * Opening the one SSH session of a run and testing the server (SPEC §5).
 */
import type { Config } from "../config/types.ts";
import { describeError, UserError } from "../errors.ts";
import { loadIdentity } from "../net/identity.ts";
import { SshError, SshSession } from "../net/ssh_session.ts";
import {
  checkReverseForwarding,
  probeServer,
  type ServerCapabilities,
} from "../net/test_connection.ts";
import type { EventSink } from "./events.ts";
import type { Timeouts } from "./timeouts.ts";

export interface ConnectedServer {
  session: SshSession;
  capabilities: ServerCapabilities;
}

/** The user name actually used to log in (`root` when none was given). */
export function loginName(config: Config): string {
  return config.auth.username ?? "root";
}

/**
 * Connect, authenticate and (unless `skipTest`) check virt-v2v and reverse
 * forwarding. On failure the session is closed and a UserError whose message
 * is the bare reason is thrown; callers add the "opening control connection"
 * prefix where SPEC wants it.
 */
export async function connectToServer(
  config: Config,
  emit: EventSink,
  timeouts: Timeouts,
  opts: { skipTest?: boolean } = {},
): Promise<ConnectedServer> {
  const server = config.remote.server;
  if (!server) throw new UserError("no conversion server given; set p2v.server");
  const username = loginName(config);
  const privateKey = config.auth.identityUrl
    ? await loadIdentity(config.auth.identityUrl)
    : undefined;

  emit({
    type: "phase",
    phase: "connecting",
    message: `Connecting to ${server}:${config.remote.port} as ${username} ...`,
  });
  let session: SshSession;
  try {
    session = await SshSession.connect({
      host: server,
      port: config.remote.port,
      credentials: {
        username,
        privateKey,
        // SPEC §3: the password is ignored when an identity is set.
        password: privateKey ? undefined : config.auth.password,
      },
      connectTimeoutMs: timeouts.connectMs,
      keepaliveIntervalMs: timeouts.keepaliveIntervalMs,
      keepaliveCountMax: timeouts.keepaliveCountMax,
      pinnedHostKeys: config.remote.hostKeys,
    });
  } catch (err) {
    throw asUserError(err);
  } finally {
    privateKey?.fill(0);
  }
  emit({ type: "host-key", fingerprint: session.hostKeyFingerprint });

  if (opts.skipTest) {
    return {
      session,
      capabilities: { version: "unknown", coloursOption: false, inputs: [], outputs: [] },
    };
  }
  try {
    emit({ type: "phase", phase: "testing", message: "Testing the conversion server ..." });
    const capabilities = await probeServer(session, {
      sudo: config.auth.sudo,
      username,
      timeoutMs: timeouts.remoteCommandMs,
    });
    await checkReverseForwarding(session);
    emit({ type: "server", capabilities });
    return { session, capabilities };
  } catch (err) {
    session.close();
    throw asUserError(err);
  }
}

function asUserError(err: unknown): UserError {
  if (err instanceof UserError) return err;
  if (err instanceof SshError) return new UserError(err.message, { cause: err });
  return new UserError(describeError(err), { cause: err });
}
