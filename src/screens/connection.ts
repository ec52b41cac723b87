/**
 * Screen 1: where the conversion server is and how to log in. The test
 * connection runs the real engine test; Next is available only after it
 * succeeded for the current settings (unless p2v.skip_test_connection).
 */
import type { Config } from "../config/types.ts";
import { parseIdentityUrl, parsePort } from "../config/values.ts";
import type { EngineEvent } from "../engine/events.ts";
import { describeError } from "../errors.ts";
import { identityUrlWarning } from "../net/identity.ts";
import { FormScreen, parses } from "./form_screen.ts";
import { isCtrl, type Key } from "./keys.ts";
import type { DialogDeps, DialogModel } from "./model.ts";
import type { Size } from "./terminal.ts";
import type { StyleName } from "./text.ts";
import { Button } from "./button.ts";
import { Checkbox } from "./checkbox.ts";
import type { Item } from "./focus_ring.ts";
import { Modal } from "./modal.ts";
import { labelPart, PageBuilder } from "./page_builder.ts";
import { type LaidOutFrame, layoutPage } from "./page_layout.ts";
import { fieldWidth, TextField } from "./text_field.ts";

export type ConnectionResult =
  | { kind: "next" }
  | { kind: "quit" }
  | { kind: "network" }
  | { kind: "shell" };

interface StatusLine {
  text: string;
  style?: StyleName;
}

const LABEL_WIDTH = 18;

export class ConnectionScreen extends FormScreen<ConnectionResult> {
  readonly server: TextField;
  readonly port: TextField;
  readonly user: TextField;
  readonly password: TextField;
  readonly identity: TextField;
  readonly sudo: Checkbox;
  readonly testButton = new Button("Test connection");
  readonly networkButton = new Button("Network");
  readonly shellButton = new Button("Shell");
  readonly aboutButton = new Button("About");
  readonly nextButton = new Button("Next", false);
  readonly quitButton = new Button("Quit");
  #status: StatusLine[] = [];
  /** Incremented per test; a late answer of an abandoned test is ignored. */
  #testToken = 0;
  #testing = false;
  readonly #model: DialogModel;
  readonly #deps: DialogDeps;

  constructor(model: DialogModel, deps: DialogDeps) {
    super();
    this.#model = model;
    this.#deps = deps;
    const c = model.config;
    this.server = new TextField("Conversion server", c.remote.server ?? "", {
      placeholder: "host name or IP address",
    });
    this.port = new TextField("SSH port", String(c.remote.port), { maxLength: 5 });
    this.user = new TextField("User name", c.auth.username ?? "root");
    this.password = new TextField("Password", c.auth.password ?? "", { masked: true });
    this.identity = new TextField("SSH identity URL", c.auth.identityUrl ?? "", {
      placeholder: "optional: /path/to/key, or a file:// or https:// URL",
    });
    this.sudo = new Checkbox("Use sudo when running virt-v2v", c.auth.sudo);
    this.ring.set(this.server.value === "" ? this.server : this.testButton);
    this.#refreshNext();
    if (c.skipTestConnection && !model.capabilities) {
      this.#status = [{
        text: "p2v.skip_test_connection is set: Next is available without a test.",
        style: "dim",
      }];
    }
    if (model.capabilities) this.#showConnected();
  }

  /** The button row, in focus order and drawing order alike. */
  #buttons(): Button[] {
    return [
      this.testButton,
      this.networkButton,
      this.shellButton,
      this.aboutButton,
      this.nextButton,
      this.quitButton,
    ];
  }

  items(): Item[] {
    return [
      this.server,
      this.port,
      this.user,
      this.password,
      this.identity,
      this.sudo,
      ...this.#buttons(),
    ];
  }

  #refreshNext(): void {
    this.nextButton.enabled = !this.#testing &&
      (this.#model.capabilities !== undefined || this.#model.config.skipTestConnection);
    this.testButton.enabled = !this.#testing;
  }

  /** Any change to how we connect makes the last test meaningless. */
  override changed(_item: Item): void {
    for (const f of [this.server, this.port, this.user, this.password, this.identity]) {
      f.error = undefined;
    }
    if (this.#model.capabilities) {
      this.#model.capabilities = undefined;
      this.#status = [{ text: "Connection settings changed: test the connection again." }];
    }
    this.#refreshNext();
  }

  override screenKey(key: Key): boolean {
    if (isCtrl(key, "c") || key.name === "eof") {
      if (key.name === "eof") this.finish({ kind: "quit" });
      else this.askToQuit({ kind: "quit" });
      return true;
    }
    if (key.name === "escape" && this.#testing) {
      this.#testToken++;
      this.#testing = false;
      this.#status = [{ text: "Stopped waiting for the test connection.", style: "warn" }];
      this.#refreshNext();
      this.invalidate();
      return true;
    }
    return false;
  }

  activate(button: Button): void {
    switch (button) {
      case this.testButton:
        void this.#test();
        break;
      case this.networkButton:
        this.#store();
        this.finish({ kind: "network" });
        break;
      case this.shellButton:
        this.#store();
        this.finish({ kind: "shell" });
        break;
      case this.aboutButton:
        this.ask(new Modal("About virt-p2v", aboutText(this.#deps.version), ["OK"]));
        break;
      case this.nextButton:
        if (this.#validate()) {
          this.#store();
          this.finish({ kind: "next" });
        }
        break;
      case this.quitButton:
        this.askToQuit({ kind: "quit" });
        break;
    }
  }

  /** Check the fields; put the reason next to each bad one. */
  #validate(): boolean {
    const bad: TextField[] = [];
    const fail = (f: TextField, reason: string) => {
      f.error = reason;
      bad.push(f);
    };
    if (this.server.value.trim() === "") {
      fail(this.server, "Enter the conversion server's host name or IP address.");
    }
    if (!parses(() => parsePort("SSH port", this.port.value.trim()))) {
      fail(this.port, "A port is a number from 1 to 65535 (usually 22).");
    }
    if (this.user.value.trim() === "") {
      fail(this.user, 'Enter a user name. If in doubt, use "root".');
    }
    if (!parses(() => parseIdentityUrl("SSH identity URL", this.identity.value.trim()))) {
      fail(
        this.identity,
        "Give the absolute path of a private key (/root/.ssh/id_rsa), or its file://, " +
          "https:// or http:// URL; or leave the field empty to log in with the password.",
      );
    }
    if (bad.length > 0) this.ring.set(bad[0]);
    this.invalidate();
    return bad.length === 0;
  }

  /** The fields written into the working config. */
  #store(): void {
    const c = this.#model.config;
    const port = Number(this.port.value.trim());
    c.remote.server = this.server.value.trim() === "" ? undefined : this.server.value.trim();
    if (Number.isInteger(port) && port >= 1 && port <= 65535) c.remote.port = port;
    const user = this.user.value.trim();
    c.auth.username = user === "" ? undefined : user;
    c.auth.password = this.password.value === "" ? undefined : this.password.value;
    // A path becomes its file:// URL, as p2v.identity=/path does; a value that
    // does not parse is kept as typed, for the check before a test to report.
    const identity = this.identity.value.trim();
    let url: string | undefined = identity === "" ? undefined : identity;
    try {
      url = parseIdentityUrl("SSH identity URL", identity);
    } catch { /* reported by #validate */ }
    c.auth.identityUrl = url;
    c.auth.sudo = this.sudo.checked;
  }

  /** A copy of the config with the current fields, for a test. */
  #candidate(): Config {
    this.#store();
    return structuredClone(this.#model.config);
  }

  async #test(): Promise<void> {
    if (this.#testing || !this.#validate()) return;
    const config = this.#candidate();
    const token = ++this.#testToken;
    this.#testing = true;
    this.#model.capabilities = undefined;
    this.#refreshNext();
    let hostKey: string | undefined;
    this.#status = [{
      text: `Testing the connection to ${config.remote.server}:${config.remote.port} ...`,
    }, { text: "(Escape stops waiting)", style: "dim" }];
    this.invalidate();
    const emit = (event: EngineEvent) => {
      if (token !== this.#testToken) return;
      if (event.type === "host-key") hostKey = event.fingerprint;
      if (event.type === "phase") {
        this.#status = [{ text: event.message }, { text: "(Escape stops waiting)", style: "dim" }];
        this.invalidate();
      }
    };
    try {
      const capabilities = await this.#deps.testConnection(config, emit);
      if (token !== this.#testToken) return;
      this.#model.capabilities = capabilities;
      this.#model.hostKey = hostKey;
      this.#testing = false;
      this.#showConnected();
      this.#refreshNext();
      this.ring.set(this.nextButton);
    } catch (err) {
      if (token !== this.#testToken) return;
      this.#testing = false;
      this.#status = [
        { text: "The test connection failed:", style: "error" },
        { text: describeError(err), style: "error" },
      ];
      if (hostKey) this.#status.push({ text: `Server host key: ${hostKey}` });
      this.#refreshNext();
    }
    this.invalidate();
  }

  #showConnected(): void {
    const caps = this.#model.capabilities!;
    this.#status = [
      { text: `Connected to the conversion server: virt-v2v ${caps.version}.`, style: "ok" },
    ];
    if (this.#model.hostKey) {
      this.#status.push({ text: `Server host key: ${this.#model.hostKey}` });
    }
    if (caps.outputs.length > 0) {
      this.#status.push({ text: `Output modes (-o): ${caps.outputs.join(" ")}` });
    }
    this.#status.push({ text: "Press Next to choose what to convert.", style: "dim" });
  }

  layout(size: Size): LaidOutFrame {
    const width = size.width;
    // Fields reach the right edge (less one column): a path or URL is long.
    const boxWidth = Math.max(12, width - LABEL_WIDTH - 3);
    const body = new PageBuilder();
    body.blank();
    body.paragraph(
      "Connect to a conversion server running virt-v2v over SSH. Values from the " +
        "kernel command line are filled in.",
      width,
      "dim",
    );
    body.blank();
    const field = (f: TextField) => {
      const focused = this.ring.is(f);
      f.layout(fieldWidth(f, boxWidth));
      body.add(...labelPart(f.label, LABEL_WIDTH, focused), " ", f.render(focused));
      if (f.error) body.paragraph(f.error, width, "error", LABEL_WIDTH + 2);
    };
    field(this.server);
    field(this.port);
    field(this.user);
    field(this.password);
    field(this.identity);
    // Said here, before any test: the download happens at the test itself.
    if (identityUrlWarning(this.identity.value.trim())) {
      body.paragraph(
        "Warning: over http:// the private key crosses the network unencrypted and " +
          "anyone on the path can read it; use https:// or file://.",
        width,
        "error",
        LABEL_WIDTH + 2,
      );
    }
    body.add(" ".repeat(LABEL_WIDTH + 1), this.sudo.render(this.ring.is(this.sudo)));
    if (this.password.value !== "" && this.identity.value.trim() !== "") {
      body.paragraph(
        "(the password is not used when an identity is set)",
        width,
        "dim",
        LABEL_WIDTH + 2,
      );
    }
    body.blank();
    const row: (string | ReturnType<Button["render"]>)[] = [" "];
    this.#buttons().forEach((b, i) => {
      if (i > 0) row.push(" ");
      row.push(b.render(this.ring.is(b)));
    });
    body.add(...row);
    body.blank();
    for (const s of this.#status) body.paragraph(s.text, width, s.style);

    return layoutPage(size, {
      title: "Connect to the conversion server",
      body,
      help: "Tab/arrows: move  Enter: press  Space: tick  Ctrl-U: clear field  Ctrl-C: quit",
      scroll: this.scroll,
      version: this.#deps.version,
    });
  }
}

export function aboutText(version: string): string {
  return [
    `virt-p2v ${version}`,
    "",
    "Converts this physical machine into a KVM guest: the disks are served " +
    "read-only over SSH to a conversion server, where virt-v2v converts them.",
    "",
    "Keys: Tab and the arrow keys move, Enter presses a button, Space ticks a " +
    "box or changes a choice, Ctrl-L redraws the screen.",
    "",
    "Typing into a filled-in field replaces its value; press Left, Right, Home, " +
    "End or Backspace first to edit it instead. Ctrl-U clears a field.",
    "",
    "Compatible with the p2v.* kernel command line keys of virt-p2v 1.42.",
  ].join("\n");
}
