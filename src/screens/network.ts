/**
 * The Network screen (from the Connection screen): interfaces, addresses,
 * default route and DNS as the system reports them; DHCP or a static
 * address through the tools the system has, and a plain sentence when it
 * has none. The commands themselves are in the NetworkTools given to it.
 */
import { describeError } from "../errors.ts";
import { FormScreen } from "./form_screen.ts";
import { isCtrl, type Key } from "./keys.ts";
import type { DialogDeps, NetworkStatus } from "./model.ts";
import type { Size } from "./terminal.ts";
import { padText, sanitize, seg, shorten, type StyleName, textWidth, wrapText } from "./text.ts";
import { Button } from "./button.ts";
import { Choice } from "./choice.ts";
import type { Item } from "./focus_ring.ts";
import { labelPart, PageBuilder, type Part } from "./page_builder.ts";
import { type LaidOutFrame, layoutPage } from "./page_layout.ts";
import { fieldWidth, TextField } from "./text_field.ts";

export type NetworkResult = { kind: "back" };

const LABEL = 16;

export function isIpAddress(text: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (v4) return v4.slice(1).every((o) => Number(o) <= 255);
  return /^[0-9a-fA-F:]+$/.test(text) && text.includes(":") && text.split(":").length <= 8;
}

/** `192.168.1.50/24` or `2001:db8::5/64`. */
export function isAddressWithPrefix(text: string): boolean {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  if (!m || !isIpAddress(m[1])) return false;
  return Number(m[2]) <= (m[1].includes(":") ? 128 : 32);
}

export class NetworkScreen extends FormScreen<NetworkResult> {
  status: NetworkStatus | undefined;
  loading = false;
  readonly iface = new Choice("Interface", [""], "");
  readonly dhcpButton = new Button("Run DHCP");
  readonly address = new TextField("Address/prefix", "", { placeholder: "e.g. 192.168.1.50/24" });
  readonly gateway = new TextField("Gateway", "", { placeholder: "optional" });
  readonly dns = new TextField("DNS server", "", { placeholder: "optional" });
  readonly staticButton = new Button("Set static address");
  readonly refreshButton = new Button("Refresh");
  readonly backButton = new Button("Back");
  messages: { text: string; style?: StyleName }[] = [];
  #busy = false;
  readonly #deps: DialogDeps;

  constructor(deps: DialogDeps) {
    super();
    this.#deps = deps;
    this.ring.set(this.backButton);
    this.#updateButtons();
  }

  override start(ctx: Parameters<FormScreen<NetworkResult>["start"]>[0]): void {
    super.start(ctx);
    void this.reload();
  }

  async reload(): Promise<void> {
    this.loading = true;
    this.invalidate();
    try {
      this.setStatus(await this.#deps.network.status());
    } catch (err) {
      this.messages.push({
        text: `Cannot read the network state: ${describeError(err)}`,
        style: "error",
      });
    }
    this.loading = false;
    this.invalidate();
  }

  /** Show a status (also used by the render tests). */
  setStatus(status: NetworkStatus): void {
    this.status = status;
    const names = status.interfaces.map((i) => i.name).filter((n) => n !== "lo");
    const current = this.iface.value;
    this.iface.options = names.length > 0 ? names : [""];
    this.iface.display = (o) => o === "" ? "(no interface)" : o;
    if (names.includes(current)) this.iface.value = current;
    else {
      // The interface of the default route, else the first one that is up.
      const routed = status.defaultRoutes.map((r) => /\bdev\s+(\S+)/.exec(r)?.[1]);
      const up = status.interfaces.filter((i) => i.state === "UP").map((i) => i.name);
      const pick = [...routed, ...up].find((n) => n !== undefined && names.includes(n));
      this.iface.index = pick ? names.indexOf(pick) : 0;
    }
    this.#updateButtons();
  }

  #updateButtons(): void {
    const s = this.status;
    const hasIface = this.iface.value !== "";
    this.dhcpButton.label = s?.dhcpClient ? `Run DHCP (${s.dhcpClient})` : "Run DHCP";
    this.dhcpButton.enabled = !this.#busy && !!s?.dhcpClient && !!s?.hasIp && hasIface;
    this.staticButton.enabled = !this.#busy && !!s?.hasIp && hasIface;
    this.refreshButton.enabled = !this.#busy;
  }

  items(): Item[] {
    return [
      this.iface,
      this.dhcpButton,
      this.address,
      this.gateway,
      this.dns,
      this.staticButton,
      this.refreshButton,
      this.backButton,
    ];
  }

  override changed(item: Item): void {
    if (item instanceof TextField) item.error = undefined;
    this.#updateButtons();
  }

  override screenKey(key: Key): boolean {
    if (key.name === "escape" || isCtrl(key, "c") || key.name === "eof") {
      if (!this.#busy) this.finish({ kind: "back" });
      return true;
    }
    return false;
  }

  activate(button: Button): void {
    if (this.#busy) return;
    if (button === this.backButton) this.finish({ kind: "back" });
    else if (button === this.refreshButton) void this.reload();
    else if (button === this.dhcpButton) {
      const iface = this.iface.value;
      void this.#run(`Running DHCP on ${iface} ...`, () => this.#deps.network.dhcp(iface));
    } else if (button === this.staticButton) {
      if (!this.#validateStatic()) return;
      const req = {
        iface: this.iface.value,
        address: this.address.value.trim(),
        gateway: this.gateway.value.trim() || undefined,
        dns: this.dns.value.trim() || undefined,
      };
      void this.#run(
        `Setting ${req.address} on ${req.iface} ...`,
        () => this.#deps.network.setStatic(req),
      );
    }
  }

  #validateStatic(): boolean {
    let ok = true;
    if (!isAddressWithPrefix(this.address.value.trim())) {
      this.address.error = "An address with a prefix length, like 192.168.1.50/24.";
      ok = false;
    }
    const gw = this.gateway.value.trim();
    if (gw !== "" && !isIpAddress(gw)) {
      this.gateway.error = "An IP address, like 192.168.1.1 (or leave it empty).";
      ok = false;
    }
    const dns = this.dns.value.trim();
    if (dns !== "" && !isIpAddress(dns)) {
      this.dns.error = "An IP address, like 192.168.1.1 (or leave it empty).";
      ok = false;
    }
    this.invalidate();
    return ok;
  }

  async #run(
    what: string,
    action: () => Promise<{ ok: boolean; log: string[] }>,
  ): Promise<void> {
    this.#busy = true;
    this.#updateButtons();
    this.messages = [{ text: what }];
    this.invalidate();
    try {
      const r = await action();
      this.messages = [
        ...r.log.map((l) => ({ text: l, style: "dim" as StyleName })),
        r.ok
          ? { text: "Done.", style: "ok" }
          : { text: "That did not work (see above).", style: "error" },
      ];
    } catch (err) {
      this.messages = [{ text: describeError(err), style: "error" }];
    }
    this.#busy = false;
    await this.reload();
  }

  layout(size: Size): LaidOutFrame {
    const width = size.width;
    const body = new PageBuilder();
    const s = this.status;
    body.heading("This machine's network", width);
    if (!s) body.add(seg(this.loading ? "   Reading ..." : "   (unknown)", "dim"));
    else {
      if (!s.hasIp) {
        body.paragraph(
          "The ip command is not installed on this system: the network cannot be shown " +
            "or configured from here. Use Shell to configure it by hand.",
          width,
          "warn",
          3,
        );
      }
      const nameW = Math.min(16, Math.max(4, ...s.interfaces.map((i) => textWidth(i.name))));
      for (const i of s.interfaces) {
        const head = `   ${padText(shorten(sanitize(i.name), nameW), nameW)}  ${
          padText(i.state ?? "", 7)
        } `;
        const addrs = i.addresses.length > 0 ? i.addresses.join("  ") : "(no address)";
        const wrapped = wrapText(sanitize(addrs), width - textWidth(head) - 1);
        wrapped.forEach((w, n) => body.add(n === 0 ? head : " ".repeat(textWidth(head)), w));
      }
      const routes = s.defaultRoutes.length > 0 ? s.defaultRoutes.join("; ") : "(none: no gateway)";
      body.paragraph(
        `Default route: ${routes}`,
        width,
        s.defaultRoutes.length ? undefined : "warn",
        1,
      );
      body.paragraph(
        `DNS servers: ${s.dns.length > 0 ? s.dns.join(" ") : "(none)"}`,
        width,
        undefined,
        1,
      );
      for (const p of s.problems) body.paragraph(p, width, "warn", 1);
    }
    body.heading("Configure", width);
    const field = (f: TextField) => {
      f.layout(fieldWidth(f, Math.max(12, width - LABEL - 3)));
      body.add(...labelPart(f.label, LABEL, this.ring.is(f)), " ", f.render(this.ring.is(f)));
      if (f.error) body.paragraph(f.error, width, "error", LABEL + 2);
    };
    body.add(
      ...labelPart(this.iface.label, LABEL, this.ring.is(this.iface)),
      " ",
      this.iface.render(this.ring.is(this.iface)),
    );
    body.add(" ".repeat(LABEL + 2), this.dhcpButton.render(this.ring.is(this.dhcpButton)));
    if (s && !s.dhcpClient) {
      body.paragraph(
        "No DHCP client: neither udhcpc nor dhclient is installed.",
        width,
        "warn",
        LABEL + 2,
      );
    }
    field(this.address);
    field(this.gateway);
    field(this.dns);
    body.add(" ".repeat(LABEL + 2), this.staticButton.render(this.ring.is(this.staticButton)));
    if (this.messages.length > 0) {
      body.heading("Result", width);
      for (const m of this.messages.slice(-12)) body.paragraph(m.text, width, m.style, 1);
    }

    const footer = new PageBuilder();
    const row: Part[] = [" "];
    row.push(this.refreshButton.render(this.ring.is(this.refreshButton)), "  ");
    row.push(this.backButton.render(this.ring.is(this.backButton)));
    footer.add(...row);
    if ([this.refreshButton, this.backButton].some((b) => this.ring.is(b))) {
      body.focusRow = undefined;
    }

    return layoutPage(size, {
      title: "Network",
      body,
      footer,
      help: "Tab/arrows: move  Left/Right: interface  Ctrl-U: clear field  Esc: back",
      scroll: this.scroll,
      version: this.#deps.version,
    });
  }
}
