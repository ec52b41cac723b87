/** The kernel-command-line keys that point the program at a test sshd. */
import { TEST_USER, type TestSshd } from "./sshd.ts";

export interface ServerKeyOptions {
  /** The -os directory on the server. */
  outDir: string;
  /** Defaults to the test sshd's own user. */
  user?: string;
}

/** `p2v.server … p2v.os=…`: the server, its port, the user and key, and the output directory. */
export function serverKeys(sshd: TestSshd, opts: ServerKeyOptions): string[] {
  return [
    `p2v.server=${sshd.address}`,
    `p2v.port=${sshd.port}`,
    `p2v.username=${opts.user ?? TEST_USER}`,
    `p2v.identity=file://${sshd.userKeyPath}`,
    `p2v.os=${opts.outDir}`,
  ];
}
