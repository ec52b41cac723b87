/**
 * The conversion's connection to its server: the session of the moment and
 * the way to a new one when the link drops — to the same server, with the
 * same credentials, accepting only the host key the first session saw.
 */
import { UserError } from "../errors.ts";
import type { RemoteSession } from "../net/session.ts";

/**
 * A reconnect met a host key other than the one the conversion started
 * with. Whatever p2v.hostkey said, this is the news: the machine answering
 * at the server's address is not the one we were talking to a moment ago.
 */
export class HostKeyChangedError extends UserError {
  constructor(
    readonly server: string,
    readonly presented: string,
    readonly original: string,
  ) {
    super(
      `possible man-in-the-middle attack: the conversion server ${server} now presents the ` +
        `host key ${presented}, which is not the key this conversion started with ` +
        `(${original}); the key is refused before any credential is sent`,
    );
    this.name = "HostKeyChangedError";
  }
}

export type SessionReopener = (connectTimeoutMs: number) => Promise<RemoteSession>;

export class ServerLink {
  #session: RemoteSession;
  readonly #reopen: SessionReopener;
  readonly #release: () => void;

  constructor(session: RemoteSession, reopen: SessionReopener, release: () => void = () => {}) {
    this.#session = session;
    this.#reopen = reopen;
    this.#release = release;
  }

  get session(): RemoteSession {
    return this.#session;
  }

  /** A new session in place of the current (lost) one. */
  async reconnect(connectTimeoutMs: number): Promise<RemoteSession> {
    const session = await this.#reopen(connectTimeoutMs);
    this.#session.close();
    this.#session = session;
    return session;
  }

  /** Close the session and forget the credentials. */
  close(): void {
    this.#session.close();
    this.#release();
  }
}
