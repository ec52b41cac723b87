/**
 * Screen 2: what the guest looks like and where virt-v2v writes it; which
 * disks, removable drives and interfaces go with it. Every check happens on
 * this screen, with the reason under the field.
 */
import type { HostFacts } from "../collect/types.ts";
import { networkTarget } from "../remote/network_target.ts";
import { parseAbsolutePath, parseCores, parseList, parseSize } from "../config/values.ts";
import { groupTitle, partialGroupMessage, partialGroups } from "../config/disk_groups.ts";
import {
  MAX_SUPPORTED_MEMORY,
  MAX_SUPPORTED_VCPUS,
  TOO_MANY_VCPUS,
  TOO_MUCH_MEMORY,
} from "../config/guest_limits.ts";
import type { OutputAllocation, StageStep } from "../config/types.ts";
import {
  defaultOutputStorage,
  libvirtNetworkProblem,
  libvirtStorageProblems,
  type OutputSettings,
  serverOutputName,
  serverProblems,
  type SettingField,
  settingsProblems,
} from "../config/output_rules.ts";
import { describeError } from "../errors.ts";
import { formatBytes } from "../text/units.ts";
import { FormScreen, parses } from "./form_screen.ts";
import { isCtrl, type Key } from "./keys.ts";
import { type DialogDeps, type DialogModel, formatMemory } from "./model.ts";
import type { Size } from "./terminal.ts";
import {
  type Line,
  padStartText,
  padText,
  sanitize,
  seg,
  shorten,
  shortenStart,
  type StyleName,
  textWidth,
  wrapText,
} from "./text.ts";
import { Button } from "./button.ts";
import { Checkbox } from "./checkbox.ts";
import { Choice } from "./choice.ts";
import type { Item } from "./focus_ring.ts";
import { labelPart, PageBuilder, type Part } from "./page_builder.ts";
import { type LaidOutFrame, layoutPage } from "./page_layout.ts";
import { fieldWidth, TextField } from "./text_field.ts";

export type SettingsResult = { kind: "start" } | { kind: "back" } | { kind: "quit" };

/** virt-v2v 2.x output modes usable from here, when the server was not asked. */
const FALLBACK_OUTPUTS = [
  "libvirt",
  "local",
  "null",
  "qemu",
  "openstack",
  "rhv",
  "glance",
  "kubevirt",
];

/** What a device row says after its name. */
interface DeviceInfo {
  /** A fixed disk's size, or `not found`: a column of its own, right-aligned. */
  size?: string;
  /** Everything else known about it (model, serial, its group), in order. */
  notes: string[];
}

interface DiskRow {
  name: string;
  info: DeviceInfo;
  box: Checkbox;
  /** `missing`: named by the configuration, not on this machine; `running`: holds the running system. */
  state: "present" | "missing" | "running";
}

interface InterfaceRow {
  name: string;
  mac?: string;
  box: Checkbox;
  network: TextField;
}

/** A warm conversion's steps, as the Step choice shows them. */
const STAGE_STEPS: Record<StageStep, string> = {
  none: "one pass (the machine is down for the copy)",
  precopy: "pre-copy (from this running machine)",
  cutover: "cutover (send what changed, convert)",
  list: "list the staged copies on the server",
};

const LEFT_LABEL = 9;
/** The left column never gets less than this share of the width. */
const LEFT_SHARE = 0.45;

export class SettingsScreen extends FormScreen<SettingsResult> {
  readonly name: TextField;
  readonly vcpus: TextField;
  readonly memory: TextField;
  readonly physTopo: Checkbox;
  readonly output: Choice;
  readonly oc: TextField;
  readonly os: TextField;
  readonly of: TextField;
  readonly oa: Choice;
  readonly oo: TextField;
  readonly stageStep: Choice;
  readonly stageDir: TextField;
  readonly stageKeep: Checkbox;
  disks: DiskRow[] = [];
  removable: DiskRow[] = [];
  interfaces: InterfaceRow[] = [];
  readonly backButton = new Button("Back");
  readonly refreshButton = new Button("Refresh disks");
  readonly startButton = new Button("Start conversion");
  diskError: string | undefined;
  /** One line for each volume group or array of which only some disks are ticked. */
  diskGroupWarnings: string[] = [];
  #notice: { text: string; style?: StyleName } | undefined;
  #warnings = new Map<Item, string>();
  /** The output whose default -os the field was last given (see #followOutput). */
  #storageFor: string;
  readonly #model: DialogModel;
  readonly #deps: DialogDeps;

  constructor(model: DialogModel, deps: DialogDeps) {
    super();
    this.#model = model;
    this.#deps = deps;
    const c = model.config;
    this.name = new TextField("Name", c.guestname);
    this.vcpus = new TextField("vCPUs", String(c.vcpu.cores), { maxLength: 6 });
    this.memory = new TextField("Memory", formatMemory(c.memory), { maxLength: 12 });
    this.physTopo = new Checkbox("Copy host CPU topology", c.vcpu.physTopo);
    this.output = new Choice("Output to (-o)", [], c.output.type);
    this.oc = new TextField("Connection (-oc)", c.output.connection ?? "", {
      placeholder: "none",
    });
    this.os = new TextField("Storage (-os)", c.output.storage);
    this.of = new TextField("Format (-of)", c.output.format ?? "", {
      placeholder: "e.g. raw or qcow2",
    });
    this.oa = new Choice(
      "Allocation (-oa)",
      ["", "sparse", "preallocated"],
      c.output.allocation ?? "",
      (o) => o === "" ? "(default)" : o,
    );
    this.oo = new TextField("Options (-oo)", c.output.misc.join(","), {
      placeholder: "e.g. OPTION=VALUE,...",
    });
    this.stageStep = new Choice(
      "Step",
      Object.keys(STAGE_STEPS),
      c.stage.step,
      (o) => STAGE_STEPS[o as StageStep],
    );
    this.stageDir = new TextField("Staging dir", c.stage.dir ?? "", {
      placeholder: "on the server, e.g. /srv/p2v-staging",
    });
    this.stageKeep = new Checkbox("Keep the staged copy after the conversion", c.stage.keep);
    this.refreshButton.enabled = !deps.fixedDisks;
    this.#buildRows(model.facts, {
      disks: new Set(c.disks),
      removable: new Set(c.removable),
      interfaces: new Set(c.interfaces),
    });
    this.updateCapabilities();
    this.#storageFor = this.output.value;
    this.#syncTopology();
    this.#syncStage();
    this.#checkWarnings();
    this.ring.set(this.startButton);
  }

  /** The server's -o list may have changed after a new test. */
  updateCapabilities(): void {
    const outputs = this.#model.capabilities?.outputs ?? [];
    const list = outputs.length > 0 ? [...outputs] : [...FALLBACK_OUTPUTS];
    const chosen = this.output.options.length > 1
      ? this.output.value
      : this.#model.config.output.type;
    // `local` on a server that calls it `disk` (or the other way round) is that server's name.
    const current = serverOutputName(chosen, list) ?? chosen;
    if (!list.includes(current)) list.push(current);
    this.output.options = list;
    this.output.value = current;
  }

  /**
   * Rows for what the machine has. With `listMissing` (at start), names from
   * the command line that the machine does not have are listed too, marked
   * "not found", so a typo shows; after a refresh, what is gone is gone.
   */
  #buildRows(
    facts: HostFacts,
    selected: { disks: Set<string>; removable: Set<string>; interfaces: Set<string> },
    listMissing = true,
  ): void {
    const config = this.#model.config;
    const missing = (names: string[], have: string[]) =>
      listMissing ? names.filter((n) => !have.includes(n)) : [];
    // The running system's own disks are listed, greyed, so that it is
    // clear why they cannot be ticked (and why the list may be empty).
    const running = facts.runningSystem ?? [];
    const isRunning = (name: string) =>
      running.some((d) => d.name === name || `/dev/${d.name}` === name);
    const diskNames = [...facts.disks.map((d) => d.name), ...running.map((d) => d.name)];
    diskNames.push(...missing(config.disks, diskNames).filter((n) => !isRunning(n)));
    this.disks = diskNames.map((name) => {
      // The boot medium is only listed when p2v.disks names it: say what it is.
      const medium = facts.bootMedium?.find((d) => d.name === name || `/dev/${d.name}` === name);
      const live = running.find((d) => d.name === name);
      const info = facts.disks.find((d) => d.name === name) ?? medium ?? live;
      const notes: string[] = [];
      if (medium) notes.push("the medium this machine booted from");
      if (live) notes.push("holds the running system");
      if (info?.model) notes.push(info.model);
      if (info?.serial) notes.push(`serial ${info.serial}`);
      if (info?.otherPaths) notes.push(`one LUN, also ${info.otherPaths.join(", ")}`);
      // Which disks go together is shown before anyone unticks one of them.
      for (const group of facts.diskGroups ?? []) {
        if (group.disks.includes(name)) notes.push(groupTitle(group));
      }
      // A pre-copy reads the running system's disks as they are: they may be ticked then.
      const box = new Checkbox(name, selected.disks.has(name) && (!live || this.#precopy()));
      box.enabled = !live || this.#precopy();
      const state = live ? "running" : info ? "present" : "missing";
      const size = info ? formatBytes(info.sizeBytes) : "not found";
      return { name, info: { size, notes }, box, state };
    });
    const removableNames = [...facts.removable.map((r) => r.name)];
    removableNames.push(...missing(config.removable, removableNames));
    this.removable = removableNames.map((name) => {
      const info = facts.removable.find((r) => r.name === name);
      return {
        name,
        info: info ? { notes: info.model ? [info.model] : [] } : { size: "not found", notes: [] },
        box: new Checkbox(name, selected.removable.has(name)),
        state: info ? "present" : "missing",
      };
    });
    const ifNames = [...facts.interfaces.map((i) => i.name)];
    ifNames.push(...missing(config.interfaces, ifNames));
    this.interfaces = ifNames.map((name) => ({
      name,
      mac: facts.interfaces.find((i) => i.name === name)?.mac,
      box: new Checkbox(name, selected.interfaces.has(name)),
      network: new TextField("network", networkTarget(config.networkMap, name), { maxLength: 256 }),
    }));
  }

  items(): Item[] {
    return [
      this.name,
      this.vcpus,
      this.memory,
      this.physTopo,
      this.output,
      this.oc,
      this.os,
      this.of,
      this.oa,
      this.oo,
      ...this.disks.map((d) => d.box),
      ...this.removable.map((r) => r.box),
      ...this.interfaces.flatMap((i) => [i.box, i.network]),
      this.stageStep,
      this.stageDir,
      this.stageKeep,
      this.backButton,
      this.refreshButton,
      this.startButton,
    ];
  }

  /**
   * An -os still at the default of the output it was filled for follows the
   * output: `-o null` empties it, as the unattended run drops a defaulted
   * -os; an -os the user typed stays, and a rule says if it does not fit.
   */
  #followOutput(): void {
    if (this.os.value.trim() === defaultOutputStorage(this.#storageFor)) {
      this.os.value = defaultOutputStorage(this.output.value);
      this.os.error = undefined;
    }
    this.#storageFor = this.output.value;
  }

  #syncTopology(): void {
    this.vcpus.enabled = !this.physTopo.checked;
    const t = this.#model.facts.cpu.topology;
    if (this.physTopo.checked) this.vcpus.value = String(t.sockets * t.cores * t.threads);
  }

  #precopy(): boolean {
    return this.stageStep.value === "precopy";
  }

  /**
   * The staging fields only matter for a warm step; the running system's
   * disks can be ticked only for a pre-copy, and lose their tick otherwise.
   */
  #syncStage(): void {
    const step = this.stageStep.value as StageStep;
    this.stageDir.enabled = step !== "none";
    this.stageKeep.enabled = step === "cutover";
    for (const row of this.disks) {
      if (row.state !== "running") continue;
      row.box.enabled = step === "precopy";
      if (!row.box.enabled) row.box.checked = false;
    }
  }

  override changed(item: Item): void {
    if (item === this.physTopo) this.#syncTopology();
    if (item === this.stageStep) this.#syncStage();
    if (item === this.output) this.#followOutput();
    if (item instanceof TextField || item instanceof Choice) item.error = undefined;
    if (this.disks.some((d) => d.box === item)) this.diskError = undefined;
    this.#notice = undefined;
    this.#checkWarnings();
  }

  override screenKey(key: Key): boolean {
    if (isCtrl(key, "c")) {
      this.askToQuit({ kind: "quit" });
      return true;
    }
    if (key.name === "eof") {
      this.finish({ kind: "quit" });
      return true;
    }
    if (key.name === "escape") {
      this.finish({ kind: "back" });
      return true;
    }
    return false;
  }

  activate(button: Button): void {
    if (button === this.backButton) this.finish({ kind: "back" });
    else if (button === this.refreshButton) void this.#refresh();
    else if (button === this.startButton) {
      if (this.validate()) {
        this.apply();
        this.finish({ kind: "start" });
      }
    }
  }

  async #refresh(): Promise<void> {
    this.#notice = { text: "Looking for disks ..." };
    this.invalidate();
    try {
      const facts = await this.#deps.refreshFacts();
      const keep = (rows: DiskRow[]) => new Map(rows.map((r) => [r.name, r.box.checked]));
      const oldDisks = keep(this.disks);
      const oldRemovable = keep(this.removable);
      const oldIfs = new Map(this.interfaces.map((i) => [i.name, i]));
      this.#model.facts = facts;
      this.#buildRows(facts, {
        // Still-present devices keep their tick; new ones are ticked, as at start.
        disks: new Set(facts.disks.map((d) => d.name).filter((n) => oldDisks.get(n) ?? true)),
        removable: new Set(
          facts.removable.map((r) => r.name).filter((n) => oldRemovable.get(n) ?? true),
        ),
        interfaces: new Set(
          facts.interfaces.map((i) => i.name).filter((n) => oldIfs.get(n)?.box.checked ?? true),
        ),
      }, false);
      for (const row of this.interfaces) {
        const old = oldIfs.get(row.name);
        if (old) row.network.value = old.network.value;
      }
      this.#checkWarnings();
      this.#notice = {
        text:
          `Found ${facts.disks.length} fixed disk(s), ${facts.removable.length} removable drive(s).`,
      };
    } catch (err) {
      this.#notice = { text: `Could not look for disks: ${describeError(err)}`, style: "error" };
    }
    this.invalidate();
  }

  #checkWarnings(): void {
    this.#warnings.clear();
    const ticked = this.disks.filter((d) => d.box.checked).map((d) => d.name);
    this.diskGroupWarnings = partialGroups(this.#model.facts.diskGroups, ticked)
      .map(partialGroupMessage);
    const vcpus = Number(this.vcpus.value);
    if (Number.isFinite(vcpus) && vcpus > MAX_SUPPORTED_VCPUS) {
      this.#warnings.set(this.vcpus, TOO_MANY_VCPUS);
    }
    // With -o libvirt, which pools the server has, while -os is typed.
    const pool = libvirtStorageProblems(
      { type: this.output.value, storage: this.os.value },
      this.#model.capabilities?.libvirt,
    )[0];
    if (pool !== undefined) this.#warnings.set(this.os, pool.message);
    try {
      if (parseSize("memory", this.memory.value.trim()) > MAX_SUPPORTED_MEMORY) {
        this.#warnings.set(this.memory, TOO_MUCH_MEMORY);
      }
    } catch { /* reported on Start */ }
  }

  /** Check every field; the reason goes under the field. True when all is well. */
  validate(): boolean {
    const errors: Item[] = [];
    const fail = (f: TextField | Choice, reason: string) => {
      f.error = reason;
      errors.push(f);
    };
    const settings = this.#outputSettings();
    const problems = [
      ...settingsProblems(settings),
      ...serverProblems(settings.output, this.#model.capabilities?.outputs ?? []),
      ...libvirtStorageProblems(settings.output, this.#model.capabilities?.libvirt),
    ];
    const fields: Record<SettingField, TextField | Choice> = {
      "guestname": this.name,
      "output.type": this.output,
      "output.storage": this.os,
      "output.allocation": this.oa,
      "output.connection": this.oc,
      "output.format": this.of,
      "output.misc": this.oo,
    };
    // A reason from an earlier Start may be stale: another field may have caused it.
    for (const field of Object.values(fields)) field.error = undefined;
    // One reason per field: the first rule it breaks.
    for (const p of problems) {
      const field = fields[p.field];
      if (field.error === undefined) fail(field, p.message);
    }
    if (!this.physTopo.checked && !parses(() => parseCores("vCPUs", this.vcpus.value.trim()))) {
      fail(this.vcpus, "A whole number, 1 or more.");
    }
    if (!parses(() => parseSize("memory", this.memory.value.trim()))) {
      fail(this.memory, "A size with a unit, like 2048M or 4G.");
    }
    for (const row of this.interfaces) {
      if (row.box.checked && row.network.value.trim() === "") {
        fail(row.network, "Name the target network (e.g. default).");
      }
      const missing = row.box.checked
        ? libvirtNetworkProblem(
          { type: this.output.value },
          row.network.value.trim(),
          this.#model.capabilities?.libvirt,
        )
        : undefined;
      if (missing !== undefined) fail(row.network, missing);
    }
    if (this.stageStep.value !== "none") {
      const dir = this.stageDir.value.trim();
      if (dir === "") {
        fail(this.stageDir, "Name the staging area: a directory on the conversion server.");
      } else if (!parses(() => parseAbsolutePath("staging dir", dir))) {
        fail(this.stageDir, "An absolute path on the conversion server, like /srv/p2v-staging.");
      }
    }
    this.diskError = this.stageStep.value === "list" ? undefined : this.#checkDisks();
    const firstTickable = this.disks.find((d) => d.box.enabled);
    if (this.diskError && firstTickable) errors.push(firstTickable.box);
    if (errors.length > 0) this.ring.set(errors[0]);
    this.invalidate();
    return errors.length === 0 && this.diskError === undefined;
  }

  /** Why the ticked disks cannot be converted, or undefined. */
  #checkDisks(): string | undefined {
    const missing = this.disks.filter((d) => d.box.checked && d.state === "missing");
    if (missing.length > 0) {
      const names = missing.map((d) => d.name).join(", ");
      return `Not on this machine: ${names}. Untick it, or attach it and press Refresh disks.`;
    }
    if (this.disks.some((d) => d.box.checked)) return undefined;
    if (!this.disks.some((d) => d.box.enabled)) {
      const running = this.disks.filter((d) => d.state === "running").map((d) => d.name);
      return running.length > 0
        ? `There is no disk to convert: ${running.join(", ")} ${
          running.length === 1 ? "holds" : "hold"
        } the running system, and this machine has no other fixed disk.`
        : "There is no disk to convert: this machine has no fixed disk.";
    }
    return "Tick at least one fixed disk: there is nothing to convert.";
  }

  /** Write the fields into the working config (call after validate). */
  apply(): void {
    const c = this.#model.config;
    const settings = this.#outputSettings();
    c.guestname = settings.guestname;
    c.vcpu.physTopo = this.physTopo.checked;
    if (!this.physTopo.checked) c.vcpu.cores = parseCores("vCPUs", this.vcpus.value.trim());
    c.memory = parseSize("memory", this.memory.value.trim());
    c.output = settings.output;
    c.disks = this.disks.filter((d) => d.box.checked).map((d) => d.name);
    c.removable = this.removable.filter((r) => r.box.checked).map((r) => r.name);
    const ifs = this.interfaces.filter((i) => i.box.checked);
    c.interfaces = ifs.map((i) => i.name);
    c.networkMap = ifs.map((i) => ({ iface: i.name, target: i.network.value.trim() }));
    const step = this.stageStep.value as StageStep;
    const dir = this.stageDir.value.trim();
    c.stage = {
      step,
      dir: step === "none" || dir === "" ? c.stage.dir : parseAbsolutePath("staging dir", dir),
      keep: this.stageKeep.checked,
    };
  }

  /** The guest name and output fields as the settings rules and the config take them. */
  #outputSettings(): OutputSettings {
    return {
      guestname: this.name.value.trim(),
      output: {
        type: this.output.value,
        connection: optional(this.oc.value),
        storage: this.os.value.trim(),
        format: optional(this.of.value),
        allocation: this.oa.value === "" ? undefined : this.oa.value as OutputAllocation,
        misc: parseList(this.oo.value.trim()),
      },
    };
  }

  layout(size: Size): LaidOutFrame {
    const width = size.width;
    // The left column is as narrow as its lines allow, so that the output
    // fields (-os is a path, -oc a URL) get the rest of the width.
    const t = this.#model.facts.cpu.topology;
    const topology = `    (${t.sockets} socket x ${t.cores} core x ${t.threads} thread)`;
    const leftMin = Math.max(
      textWidth(this.physTopo.render(false).segs.map((s) => s.text).join("")),
      textWidth(topology),
      1 + LEFT_LABEL + 1 + fieldWidth(this.memory, 99),
    ) + 2;
    const half = Math.min(Math.max(leftMin, Math.floor(width * LEFT_SHARE)), width - 30);
    const rightLabel = Math.max(
      ...[this.output, this.oc, this.os, this.of, this.oa, this.oo].map((f) => textWidth(f.label)),
    );
    const leftBox = Math.max(8, half - LEFT_LABEL - 4);
    const rightBox = Math.max(8, width - half - rightLabel - 2);

    const header = new PageBuilder();
    const caps = this.#model.capabilities;
    const server = this.#model.config.remote.server
      ? `${this.#model.config.remote.server}:${this.#model.config.remote.port}`
      : "(none)";
    header.add(
      " ",
      seg(
        shorten(
          `Server ${server}` + (caps ? `, virt-v2v ${caps.version}` : " (not tested)") +
            `   Host: ${this.#model.facts.cpu.onlineCpus} CPU(s), ${
              formatMemory(this.#model.facts.memory)
            } RAM`,
          width - 2,
        ),
        "dim",
      ),
    );

    const body = new PageBuilder();
    body.heading("Target guest", half - 1);
    body.lines[body.lines.length - 1].push(seg(" "));
    body.lines[body.lines.length - 1].push(
      ...headingSegs("virt-v2v output", width - half),
    );
    const left = (f: TextField, boxW: number): Part[] => {
      f.layout(fieldWidth(f, boxW));
      return [
        ...labelPart(f.label, LEFT_LABEL, this.ring.is(f), f.enabled),
        " ",
        f.render(this.ring.is(f)),
      ];
    };
    const rightText = (f: TextField): Part[] => {
      f.layout(rightBox);
      return [...labelPart(f.label, rightLabel, this.ring.is(f)), " ", f.render(this.ring.is(f))];
    };
    const rightChoice = (c: Choice): Part[] => [
      ...labelPart(c.label, rightLabel, this.ring.is(c)),
      " ",
      c.render(this.ring.is(c), rightBox),
    ];
    const rows: [Part[], Part[], Item | undefined, Item | undefined][] = [
      [left(this.name, leftBox), rightChoice(this.output), this.name, this.output],
      [left(this.vcpus, leftBox), rightText(this.oc), this.vcpus, this.oc],
      [left(this.memory, leftBox), rightText(this.os), this.memory, this.os],
      [
        [this.physTopo.render(this.ring.is(this.physTopo))],
        rightText(this.of),
        this.physTopo,
        this.of,
      ],
      [
        [seg(topology, "dim")],
        rightChoice(this.oa),
        undefined,
        this.oa,
      ],
      [[], rightText(this.oo), undefined, this.oo],
    ];
    for (const [l, r, li, ri] of rows) {
      body.add(...padParts(l, half), ...r);
      const lerr = messageFor(li, this.#warnings);
      const rerr = messageFor(ri, this.#warnings);
      // A reason for the left field alone may run under the right column.
      if (lerr && !rerr) body.paragraph(lerr.text, width, lerr.style, 2);
      else if (lerr || rerr) {
        const lw = lerr ? wrapText(lerr.text, half - 3) : [];
        const rw = rerr ? wrapText(rerr.text, width - half - 3) : [];
        for (let i = 0; i < Math.max(lw.length, rw.length); i++) {
          body.add(
            "  ",
            seg(padText(lw[i] ?? "", half - 2), lerr?.style),
            "  ",
            seg(rw[i] ?? "", rerr?.style),
          );
        }
      }
    }

    body.heading("Fixed hard disks (Space ticks)", width);
    this.#deviceRows(body, this.disks, width);
    if (this.diskError) body.paragraph(this.diskError, width, "error", 2);
    for (const w of this.diskGroupWarnings) body.paragraph(w, width, "warn", 2);
    body.heading("Removable media", width);
    this.#deviceRows(body, this.removable, width);
    // What Refresh disks found, beside the rows it changed: lower down it would be out of sight.
    if (this.#notice) body.paragraph(this.#notice.text, width, this.#notice.style, 1);
    body.heading("Network interfaces", width);
    if (this.interfaces.length === 0) body.add(seg("   (none found)", "dim"));
    const ifName = Math.min(16, Math.max(4, ...this.interfaces.map((i) => textWidth(i.name))));
    for (const row of this.interfaces) {
      const netFocused = this.ring.is(row.network);
      const label = `${padText(shorten(row.name, ifName), ifName)}  ${padText(row.mac ?? "", 17)}`;
      const used = 5 + textWidth(label) + 2 + 9;
      row.network.layout(fieldWidth(row.network, Math.max(10, width - used - 1)));
      body.add(
        row.box.renderBox(this.ring.is(row.box)),
        seg(" "),
        seg(label, row.box.checked ? undefined : "dim"),
        "  ",
        ...labelPart("network", 8, netFocused),
        row.network.render(netFocused),
      );
      if (row.network.error) body.paragraph(row.network.error, width, "error", 4);
      else if (row.box.checked) {
        // With -o libvirt, which networks the server has, while the target is typed.
        const missing = libvirtNetworkProblem(
          { type: this.output.value },
          row.network.value.trim(),
          this.#model.capabilities?.libvirt,
        );
        if (missing !== undefined) body.paragraph(missing, width, "warn", 4);
      }
    }
    this.#stageRows(body, width);

    const footer = new PageBuilder();
    footer.blank();
    const buttons = [this.backButton, this.refreshButton, this.startButton];
    footer.add(...this.buttonRow(buttons));
    // The focused button is in the footer: keep the body where it is.
    if (buttons.some((b) => this.ring.is(b))) body.focusRow = undefined;

    return layoutPage(size, {
      title: "Conversion settings",
      header,
      body,
      footer,
      help: "Tab/arrows: move  Space: tick/change  Ctrl-U: clear field  Esc: back",
      scroll: this.scroll,
      version: this.#deps.version,
    });
  }

  /** Step, staging directory and keep: how a warm conversion is asked for. */
  #stageRows(body: PageBuilder, width: number): void {
    body.heading("Warm conversion (copy while the machine runs, then cut over)", width);
    const label = Math.max(textWidth(this.stageStep.label), textWidth(this.stageDir.label));
    const box = Math.max(10, width - label - 3);
    body.add(
      ...labelPart(this.stageStep.label, label, this.ring.is(this.stageStep)),
      " ",
      this.stageStep.render(this.ring.is(this.stageStep), box),
    );
    this.stageDir.layout(fieldWidth(this.stageDir, box));
    body.add(
      ...labelPart(this.stageDir.label, label, this.ring.is(this.stageDir), this.stageDir.enabled),
      " ",
      this.stageDir.render(this.ring.is(this.stageDir)),
    );
    if (this.stageDir.error) body.paragraph(this.stageDir.error, width, "error", label + 3);
    body.add(" ", this.stageKeep.render(this.ring.is(this.stageKeep)));
    const step = this.stageStep.value as StageStep;
    if (step === "precopy") {
      body.paragraph(
        "The staged copy is not consistent until the cutover: run the pre-copy as often as " +
          "you like, then boot from the virt-p2v medium and choose cutover.",
        width,
        "dim",
        2,
      );
    }
  }

  #deviceRows(body: PageBuilder, rows: DiskRow[], width: number): void {
    if (rows.length === 0) {
      body.add(seg("   (none)", "dim"));
      return;
    }
    const nameW = Math.min(36, Math.max(6, ...rows.map((r) => textWidth(r.name))));
    for (const r of rows) {
      const name = padText(shortenStart(sanitize(r.name), nameW), nameW);
      const { size, notes } = r.info;
      const columns = size === undefined ? notes : [padStartText(size, 10), ...notes];
      const info = columns.join("  ");
      body.add(
        r.box.renderBox(this.ring.is(r.box)),
        seg(" " + name, r.box.checked ? undefined : "dim"),
        seg(" " + shorten(sanitize(info), Math.max(10, width - nameW - 7))),
      );
    }
  }
}

function optional(text: string): string | undefined {
  const t = text.trim();
  return t === "" ? undefined : t;
}

function headingSegs(title: string, width: number): Line {
  const text = `-- ${title} `;
  return [seg(text, "heading"), seg("-".repeat(Math.max(0, width - textWidth(text))))];
}

function messageFor(
  item: Item | undefined,
  warnings: Map<Item, string>,
): { text: string; style: StyleName } | undefined {
  if ((item instanceof TextField || item instanceof Choice) && item.error) {
    return { text: item.error, style: "error" };
  }
  const w = item ? warnings.get(item) : undefined;
  return w ? { text: w, style: "warn" } : undefined;
}

/** Parts padded with spaces to `width` columns (the left column). */
function padParts(parts: Part[], width: number): Part[] {
  let w = 0;
  for (const p of parts) {
    if (typeof p === "string") w += textWidth(p);
    else if ("segs" in p) w += p.segs.reduce((n, s) => n + textWidth(s.text), 0);
    else w += textWidth(p.text);
  }
  return w < width ? [...parts, " ".repeat(width - w)] : parts;
}
