/**
 * virt-v2v's `-o libvirt` writes the disks into the pool and then asks
 * libvirt to define the guest. When libvirt refuses (no KVM on the server, a
 * missing emulator), virt-v2v prints a warning, leaves the guest's XML in a
 * file and still exits 0: the guest exists only as disks. This watch picks
 * that warning out of virt-v2v's output, so that the success can say so.
 */
import { terminalText } from "../text/ansi.ts";
import { virtV2vText } from "./virt_v2v_error.ts";

const NOT_DEFINED = /^virt-v2v: warning: could not define libvirt domain: (.*)$/;
const XML_LEFT = /^The libvirt XML is still available in ['‘]([^'’]+)['’]/;

export class LibvirtDefineWatch {
  #reason: string | undefined;
  #xmlFile: string | undefined;

  /** One line of virt-v2v's output, without its line end. */
  feed(line: string): void {
    // Every line of the output passes here, floods included: both lines name libvirt.
    if (!line.includes("libvirt")) return;
    const plain = terminalText(line);
    const refused = NOT_DEFINED.exec(plain);
    if (refused) this.#reason = virtV2vText(refused[1]);
    const left = XML_LEFT.exec(plain);
    if (left && this.#reason !== undefined) this.#xmlFile = virtV2vText(left[1]);
  }

  /** The warning a successful conversion ends with; undefined when libvirt took the guest. */
  warning(): string | undefined {
    if (this.#reason === undefined) return undefined;
    const where = this.#xmlFile === undefined
      ? "virt-v2v's log says where it left the guest's libvirt XML"
      : `its libvirt XML is ${this.#xmlFile} on the conversion server: define it there with ` +
        `virsh define ${this.#xmlFile}`;
    return `the disks are in the pool, but libvirt did not define the guest ` +
      `(${this.#reason.replace(/\.$/, "")}); ${where}`;
  }
}
