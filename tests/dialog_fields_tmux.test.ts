/**
 * Editing fields as a new user does, in a real terminal (tmux): typing into
 * a pre-filled field replaces it, moving the cursor first edits it, every
 * form says how to clear a field, fields use the terminal's width, reasons
 * wrap, and placeholders cannot be taken for values without colour. No
 * server is needed: p2v.skip_test_connection opens the way to the settings.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { frame, TmuxSession } from "./helpers/tmux.ts";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const REPO = fileURLToPath(new URL("..", import.meta.url));

const work = await Deno.makeTempDir({ prefix: "p2v-fields." });
const disk = join(work, "a.img");
await Deno.writeFile(disk, new Uint8Array(1024 * 1024));

function start(width: number, height: number, env: Record<string, string>) {
  return TmuxSession.start({
    argv: [
      Deno.execPath(),
      "run",
      "--allow-all",
      "--quiet",
      MAIN,
      `--cmdline=p2v.disks=${disk} p2v.name=guest1 p2v.os=/var/tmp p2v.port=2222 ` +
      "p2v.skip_test_connection=1",
    ],
    cwd: REPO,
    env,
    width,
    height,
  });
}

/** The last row: the key help. */
function helpLine(screen: string): string {
  return screen.replace(/\n+$/, "").split("\n").at(-1) ?? "";
}

/** The field `[...]` right after `label` on the screen: its text and its columns. */
function field(screen: string, label: string): { text: string; from: number; to: number } {
  for (const row of screen.split("\n")) {
    const at = row.indexOf(label);
    if (at < 0) continue;
    const from = row.indexOf("[", at + label.length);
    const to = row.indexOf("]", from);
    if (from < 0 || to < 0) continue;
    return { text: row.slice(from + 1, to).trimEnd(), from, to: to + 1 };
  }
  throw new Error(`no field "${label}":\n${frame(screen)}`);
}

async function quit(tmux: TmuxSession): Promise<void> {
  await tmux.keys("C-c");
  await tmux.waitFor("Quit virt-p2v without converting anything?");
  await tmux.keys("y");
  // Nothing was converted: that is a failure to report, as documented.
  assert.equal(await tmux.exitStatus(), 1);
}

Deno.test("dialog at 80 columns, NO_COLOR on a VT100: fields edit like people expect", async () => {
  const tmux = await start(80, 24, { TERM: "vt100", NO_COLOR: "1" });
  try {
    // Connection screen. Placeholders are bracketed: no colour tells them apart.
    let screen = await tmux.waitFor(/^>Conversion server\s+\[/m);
    assert.equal(field(screen, "Conversion server").text, "<host name or IP address>");
    assert.match(field(screen, "SSH identity URL").text, /^<optional: \/path\/to\/key/);
    assert.match(helpLine(screen), /Ctrl-U: clear field/);
    assert.ok(field(screen, "Conversion server").to >= 79, "the server field spans the screen");

    await tmux.type("10.0.0.1");
    // The port came from the command line: typing replaces it.
    await tmux.keys("Tab");
    await tmux.type("22");
    screen = await tmux.waitFor(/SSH port\s+\[22\s*\]/);
    // The user name: Home first, then typing inserts before the value.
    await tmux.keys("Tab", "Home");
    await tmux.type("x");
    screen = await tmux.waitFor(/User name\s+\[xroot\s*\]/);
    // Left from the end, then typing inserts at the cursor.
    await tmux.keys("End", "Left");
    await tmux.type("-");
    await tmux.waitFor(/User name\s+\[xroo-t\s*\]/);
    // Typing on after an insertion inserts too: the value stays selected only
    // until the first key.
    await tmux.type("y");
    await tmux.waitFor(/User name\s+\[xroo-yt\s*\]/);

    // A key file name that is not a path: the whole reason is shown, wrapped.
    await tmux.focus(/^>SSH identity URL/m);
    await tmux.type("id_rsa");
    await tmux.focus(/\[>Test connection<\]/);
    await tmux.keys("Enter");
    screen = await tmux.waitFor(/^ {20}[^\s[].*\n {20}[^\s[]/m);
    const reason = screen.split("\n").filter((r) => /^ {20}[^\s[]/.test(r)).map((r) => r.trim());
    assert.ok(reason.length >= 2, `the reason is not wrapped:\n${frame(screen)}`);
    assert.match(
      reason.join(" "),
      /Give the absolute path of a private key \(\/root\/\.ssh\/id_rsa\), or its file:\/\/, https:\/\/ or http:\/\/ URL; or leave the field empty to log in with the password\./,
    );
    // The focus went back to the field, its value selected: a path replaces it.
    assert.match(screen, /^>SSH identity URL\s+\[id_rsa/m);
    await tmux.type("/root/.ssh/id_rsa");
    screen = await tmux.waitFor(/SSH identity URL\s+\[\/root\/\.ssh\/id_rsa\s*\]/);
    assert.doesNotMatch(screen, /Give the absolute path/, "the reason goes once the value changes");

    // The Network screen has text fields too.
    await tmux.focus(/\[>Network<\]/);
    await tmux.keys("Enter");
    screen = await tmux.waitFor("Address/prefix");
    assert.match(helpLine(screen), /Ctrl-U: clear field/);
    assert.equal(field(screen, "Address/prefix").text, "<e.g. 192.168.1.50/24>");
    assert.equal(field(screen, "Gateway").text, "<optional>");
    assert.ok(field(screen, "Gateway").to >= 79, "the network fields span the screen");
    await tmux.keys("Escape");
    await tmux.waitFor("Connect to the conversion server");

    // Settings.
    await tmux.focus(/\[>Next<\]/);
    await tmux.keys("Enter");
    screen = await tmux.waitFor("Conversion settings");
    assert.match(helpLine(screen), /Ctrl-U: clear field/);
    assert.equal(field(screen, "Connection (-oc)").text, "<none>");
    assert.equal(field(screen, "Format (-of)").text, "<e.g. raw or qcow2>");
    assert.doesNotMatch(screen, /\(none\)\s*\]|raw, qcow2/);
    let os = field(screen, "Storage (-os)");
    assert.ok(os.to >= 79, `-os ends at column ${os.to}:\n${frame(screen)}`);
    assert.ok(os.to - os.from - 2 >= 23, `-os is ${os.to - os.from - 2} wide`);

    // The reported case: /var/tmp, then /var/lib/libvirt/images typed.
    await tmux.focus(/>Storage \(-os\)/);
    await tmux.type("/var/lib/libvirt/images");
    screen = await tmux.waitFor(/Storage \(-os\)\s+\[\/var\/lib\/libvirt\/images\s*\]/);
    assert.doesNotMatch(screen, /\/var\/tmp\/var/);
    // Back on the field later: Left first, then typing inserts at the cursor.
    await tmux.keys("Tab");
    await tmux.focus(/>Storage \(-os\)/, "BTab");
    await tmux.keys(...Array(7).fill("Left"));
    await tmux.type("2");
    screen = await tmux.waitFor(/Storage \(-os\)\s+\[\/var\/lib\/libvirt2\/images\s*\]/);
    os = field(screen, "Storage (-os)");
    assert.equal(os.text, "/var/lib/libvirt2/images", "24 characters fit without scrolling");
    // Ctrl-U empties it; the placeholder-less field is then really empty.
    await tmux.keys("C-u");
    await tmux.waitFor(/Storage \(-os\)\s+\[\s*\]/);
    await quit(tmux);
  } finally {
    await tmux.kill();
  }
});

Deno.test("dialog at 132 columns: fields widen with the terminal", async () => {
  const tmux = await start(132, 40, { TERM: "xterm" });
  try {
    let screen = await tmux.waitFor(/^>Conversion server\s+\[/m);
    for (const label of ["Conversion server", "User name", "SSH identity URL"]) {
      assert.ok(field(screen, label).to >= 131, `${label} ends at ${field(screen, label).to}`);
    }
    assert.ok(field(screen, "SSH port").to - field(screen, "SSH port").from <= 8);
    assert.match(helpLine(screen), /Ctrl-U: clear field/);
    await tmux.type("10.0.0.1");
    await tmux.focus(/\[>Next<\]/);
    await tmux.keys("Enter");
    screen = await tmux.waitFor("Conversion settings");
    for (const label of ["Connection (-oc)", "Storage (-os)", "Format (-of)", "Options (-oo)"]) {
      const f = field(screen, label);
      assert.ok(f.to >= 131, `${label} ends at ${f.to}`);
      assert.ok(f.to - f.from - 2 >= 50, `${label} is only ${f.to - f.from - 2} wide`);
    }
    const name = field(screen, "Name");
    assert.ok(name.to - name.from - 2 >= 40, `Name is only ${name.to - name.from - 2} wide`);
    await quit(tmux);
  } finally {
    await tmux.kill();
  }
});

addEventListener("unload", () => {
  Deno.removeSync(work, { recursive: true });
});
