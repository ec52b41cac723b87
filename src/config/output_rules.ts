/**
 * The rules a guest name and virt-v2v's output settings must follow, in one
 * place: the dialog shows a broken rule under its field, the unattended run
 * prints it as its one error line, and both use these same words. Rules
 * that need no server are checked before connecting; the one that needs the
 * server's list of output modes right after the test connection.
 */
import type { Config } from "./types.ts";
import {
  type LibvirtInventory,
  libvirtNetworkProblem as missingNetworks,
  libvirtPoolProblem,
} from "../remote/output_target.ts";

/** Which setting a problem is about (the dialog puts the reason under that field). */
export type SettingField =
  | "guestname"
  | "output.type"
  | "output.storage"
  | "output.allocation"
  | "output.connection"
  | "output.format"
  | "output.misc";

export interface SettingProblem {
  field: SettingField;
  /** One sentence that says what is wrong and what to do, the same in both views. */
  message: string;
}

/** What the settings rules look at: the guest's name and virt-v2v's `-o*` options. */
export interface OutputSettings {
  guestname: string;
  output: Config["output"];
}

/**
 * What an output mode does, whatever a virt-v2v release calls it: 2.8 and
 * later print `disk` where older ones print `local`, `ovirt` for `rhv`, and
 * `ovirt-upload` for `rhv-upload` (virt-v2v's output/select_output.ml reads
 * every one of these names).
 */
export type OutputMeaning =
  | "disk"
  | "glance"
  | "kubevirt"
  | "libvirt"
  | "null"
  | "openstack"
  | "ovirt"
  | "ovirt-upload"
  | "qemu"
  | "vdsm";

const MEANINGS: Record<string, OutputMeaning> = {
  disk: "disk",
  local: "disk",
  glance: "glance",
  kubevirt: "kubevirt",
  libvirt: "libvirt",
  null: "null",
  openstack: "openstack",
  osp: "openstack",
  rhosp: "openstack",
  ovirt: "ovirt",
  rhv: "ovirt",
  rhev: "ovirt",
  "ovirt-upload": "ovirt-upload",
  ovirt_upload: "ovirt-upload",
  "rhv-upload": "ovirt-upload",
  rhv_upload: "ovirt-upload",
  qemu: "qemu",
  vdsm: "vdsm",
};

/**
 * Outputs virt-p2v cannot drive, hidden and refused as the original hid
 * them: `vdsm` is meant to be run by oVirt's VDSM, with image and VM ids it
 * chooses, and `ovirt-upload` needs a password file (`-op`) and oVirt
 * options that no setting of ours can give.
 */
const UNUSABLE: ReadonlySet<OutputMeaning> = new Set(["vdsm", "ovirt-upload"]);

/**
 * Outputs that need `-os`: a directory for the files (`disk`, `qemu`), the
 * export storage domain (`ovirt`, "-o rhv: -os option was not specified").
 */
const NEEDS_STORAGE: ReadonlySet<OutputMeaning> = new Set(["disk", "qemu", "ovirt"]);

/** The `-o*` options the user can set, each with the field it is kept in. */
type OutputFlag = "-os" | "-oa" | "-oc" | "-of" | "-oo";

/**
 * What virt-v2v 2.x refuses with each output ("-os option cannot be used in
 * this output mode", "no -oo (output options) are allowed here"), from its
 * output/output_*.ml.
 */
const REFUSED_FLAGS: Partial<Record<OutputMeaning, readonly OutputFlag[]>> = {
  null: ["-os", "-oa", "-oc", "-of", "-oo"],
  glance: ["-os", "-oc", "-oo"],
  ovirt: ["-oo"],
};

/** The meaning of an `-o` name, or undefined for a name no virt-v2v knows. */
export function outputMeaning(name: string): OutputMeaning | undefined {
  return Object.hasOwn(MEANINGS, name) ? MEANINGS[name] : undefined;
}

/** Whether virt-p2v can convert to this output (an unknown name is left to the server). */
export function isUsableOutput(name: string): boolean {
  const meaning = outputMeaning(name);
  return meaning === undefined || !UNUSABLE.has(meaning);
}

/**
 * The name this server knows for the output the user chose (`disk` on a
 * virt-v2v 2.2 is `local`), or undefined when the server offers no output of
 * that meaning.
 */
export function serverOutputName(type: string, offered: readonly string[]): string | undefined {
  if (offered.includes(type)) return type;
  const meaning = outputMeaning(type);
  if (meaning === undefined) return undefined;
  return offered.find((name) => outputMeaning(name) === meaning);
}

/**
 * `-os` when the user gave none: `/var/tmp`, except for an output with
 * which virt-v2v refuses any `-os` (`-o null`, `-o glance`). Only an `-os`
 * the user wrote with such an output is an error.
 */
export function defaultOutputStorage(type: string): string {
  const meaning = outputMeaning(type);
  return meaning !== undefined && REFUSED_FLAGS[meaning]?.includes("-os") ? "" : "/var/tmp";
}

/** A libvirt-friendly guest name that is also a safe file name on the server. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;

/**
 * One `-oo` item as virt-v2v reads it: `KEY` or `KEY=VALUE` (virt-v2v splits
 * at the first `=`, and a bare key such as `compressed` means "on"). A lone
 * `?` asks virt-v2v to list the options and exit, which converts nothing.
 */
const OUTPUT_OPTION = /^[^=\s?][^=\s]*(=.*)?$/;

/** The rules that need no server: an empty list when all is well. */
export function settingsProblems(s: OutputSettings): SettingProblem[] {
  const problems: SettingProblem[] = [];
  const add = (field: SettingField, message: string) => problems.push({ field, message });
  const name = s.guestname;
  if (name === "") add("guestname", "The guest needs a name.");
  else if (!SAFE_NAME.test(name)) {
    add(
      "guestname",
      `Guest name "${name}": use letters, digits and . _ + - only, ` +
        "starting with a letter or digit.",
    );
  }
  const out = s.output;
  const type = out.type;
  const meaning = outputMeaning(type);
  if (type === "") add("output.type", "Choose an output mode (-o), e.g. local.");
  else if (!isUsableOutput(type)) {
    add("output.type", `-o ${type} is not supported by virt-p2v; choose another output mode.`);
  }
  const storage = out.storage;
  if (meaning !== undefined && NEEDS_STORAGE.has(meaning) && storage === "") {
    const what = meaning === "ovirt" ? "an export storage domain" : "a directory on the server";
    add("output.storage", `-o ${type} needs ${what} (-os).`);
  }
  const given: Record<OutputFlag, [SettingField, boolean]> = {
    "-os": ["output.storage", storage !== ""],
    "-oa": ["output.allocation", out.allocation !== undefined],
    "-oc": ["output.connection", (out.connection ?? "") !== ""],
    "-of": ["output.format", (out.format ?? "") !== ""],
    "-oo": ["output.misc", out.misc.length > 0],
  };
  const refused = meaning === undefined ? [] : REFUSED_FLAGS[meaning] ?? [];
  // -o null's reason says why: a user may not expect that it writes nothing.
  const mode = meaning === "null" ? "-o null writes nothing and" : `-o ${type}`;
  for (const flag of refused) {
    const [field, isGiven] = given[flag];
    if (isGiven) add(field, `${mode} takes no ${flag}: leave ${flag} empty.`);
  }
  const bad = out.misc.find((item) => !OUTPUT_OPTION.test(item));
  if (bad !== undefined && !refused.includes("-oo")) {
    add(
      "output.misc",
      `-oo item "${bad}": each item is OPTION or OPTION=VALUE; separate items with commas.`,
    );
  }
  return problems;
}

/**
 * The rule that needs the server's answer to `--machine-readable`: the
 * output mode must be one it offers (under any of its names). An empty list
 * means the server was not asked, and nothing is known.
 */
export function serverProblems(
  output: Pick<Config["output"], "type">,
  offered: readonly string[],
): SettingProblem[] {
  if (offered.length === 0 || serverOutputName(output.type, offered) !== undefined) return [];
  return [{
    field: "output.type",
    message: `The conversion server's virt-v2v has no output mode "${output.type}" (-o); ` +
      `it offers: ${offered.join(", ")}.`,
  }];
}

/**
 * The rule that needs the server's libvirt (when the test connection could
 * list it): with `-o libvirt`, `-os` is one of its pools, and an active one.
 * The same words as the check the conversion makes before it exports.
 */
export function libvirtStorageProblems(
  output: Pick<Config["output"], "type" | "storage">,
  inventory: LibvirtInventory | undefined,
): SettingProblem[] {
  if (output.type !== "libvirt" || inventory === undefined) return [];
  const problem = libvirtPoolProblem(output.storage.trim(), inventory);
  if (problem === undefined) return [];
  return [{ field: "output.storage", message: asSentence(problem) }];
}

/**
 * With `-o libvirt`, each interface's target network must be one the
 * server's libvirt has (when the test connection could list them): the
 * reason for one target, or undefined.
 */
export function libvirtNetworkProblem(
  output: Pick<Config["output"], "type">,
  network: string,
  inventory: LibvirtInventory | undefined,
): string | undefined {
  if (output.type !== "libvirt" || inventory === undefined || network === "") return undefined;
  const problem = missingNetworks([network], inventory);
  return problem === undefined ? undefined : asSentence(problem);
}

/** A line of the conversion's check as a reason under a field: capital first, full stop last. */
function asSentence(line: string): string {
  return `${line[0].toUpperCase()}${line.slice(1)}.`;
}
