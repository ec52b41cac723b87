/**
 * Our copy on the conversion server, through the real bash and coreutils it
 * runs with: the probe tells a good copy from a missing or altered one, the
 * upload lands only complete and with the right hash, and the cache is for
 * the account alone.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  ownCopyFromProbe,
  ownCopyPath,
  ownCopyProbeLines,
  ownCopyUploadCommand,
} from "../src/remote/server_copy.ts";
import { inBash } from "../src/remote/remote_commands.ts";
import { tempDir } from "./helpers/cleanup.ts";

async function sh(command: string, env: Record<string, string>, stdin?: Uint8Array) {
  const child = new Deno.Command("sh", {
    args: ["-c", command],
    env,
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await child.output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

Deno.test("own copy: probed missing, uploaded whole, then found good; an altered one is not", async () => {
  const home = await tempDir({ prefix: "p2v-own-copy." });
  try {
    const content = crypto.getRandomValues(new Uint8Array(65536));
    const sha = createHash("sha256").update(content).digest("hex");
    const env = { HOME: home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" };
    const probe = async () =>
      ownCopyFromProbe((await sh(inBash(ownCopyProbeLines(sha).join("\n")), env)).stdout);

    const dir = `${home}/.cache/virt-p2v`;
    assert.deepEqual(await probe(), { dir, ready: false });

    // A wrong hash, then a short stdin: nothing lands under the final name.
    const wrong = "0".repeat(64);
    assert.equal(
      (await sh(ownCopyUploadCommand(dir, wrong, content.length), env, content)).code,
      3,
    );
    assert.equal(
      (await sh(ownCopyUploadCommand(dir, sha, content.length + 1), env, content)).code,
      2,
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), []);

    assert.equal((await sh(ownCopyUploadCommand(dir, sha, content.length), env, content)).code, 0);
    assert.deepEqual(await probe(), { dir, ready: true });
    const path = ownCopyPath(dir, sha);
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
      [sha, `${sha}.ok`],
    );

    // Found good by its recorded identity, without hashing it again: a
    // sha256sum that fails everything changes nothing.
    const bin = await tempDir({ prefix: "p2v-no-sha." });
    await Deno.writeTextFile(`${bin}/sha256sum`, "#!/bin/sh\nexit 1\n", { mode: 0o755 });
    const noHash = { ...env, PATH: `${bin}:${env.PATH}` };
    const probeWith = async (e: Record<string, string>) =>
      ownCopyFromProbe((await sh(inBash(ownCopyProbeLines(sha).join("\n")), e)).stdout);
    assert.deepEqual(await probeWith(noHash), { dir, ready: true });

    // Without the record it is hashed, and the record written again.
    await Deno.remove(`${path}.ok`);
    assert.deepEqual(await probeWith(noHash), { dir, ready: false });
    assert.deepEqual(await probe(), { dir, ready: true });
    assert.deepEqual(await probeWith(noHash), { dir, ready: true });
    await Deno.remove(bin, { recursive: true });
    assert.deepEqual(await Deno.readFile(path), content);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o700);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);

    // Altered in place (a clock tick later, as any later write is): the
    // identity differs, the hash too, so it is copied again.
    await new Promise((r) => setTimeout(r, 20));
    const altered = content.slice();
    altered[100] ^= 1;
    await Deno.writeFile(path, altered);
    assert.deepEqual(await probe(), { dir, ready: false });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("own copy: an account without an absolute home has no cache", () => {
  assert.deepEqual(ownCopyFromProbe("setsid\n"), { dir: undefined, ready: false });
  assert.deepEqual(ownCopyFromProbe("own-copy-dir relative/x\n"), { dir: undefined, ready: false });
});
