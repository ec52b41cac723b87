/**
 * The conversion's connection to its server: the session of the moment and
 * the way to a new one when the link drops — to the same server, with the
 * same credentials, accepting only the host key the first session saw.
 */
import type { RemoteSession } from "../net/session.ts";

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
