/**
 * Keyboard input on a raw terminal: bytes decoded into keys (VT100, xterm
 * and Linux console sequences), read only when the dialog asks for input.
 */

export type KeyName =
  | "char"
  | "enter"
  | "tab"
  | "backtab"
  | "backspace"
  | "delete"
  | "insert"
  | "up"
  | "down"
  | "left"
  | "right"
  | "home"
  | "end"
  | "pageup"
  | "pagedown"
  | "escape"
  /** Ctrl + letter (`ch` is the lowercase letter), except the ones named above. */
  | "ctrl"
  /** Alt/Meta + character (ESC prefix). */
  | "alt"
  | "f"
  /** The terminal went away (stdin closed). */
  | "eof"
  | "unknown";

export interface Key {
  name: KeyName;
  /** The character for `char`, `ctrl`, `alt`; the number for `f`. */
  ch?: string;
}

const CSI_TILDE: Record<string, KeyName | `f${number}`> = {
  "1": "home",
  "2": "insert",
  "3": "delete",
  "4": "end",
  "5": "pageup",
  "6": "pagedown",
  "7": "home",
  "8": "end",
  "11": "f1",
  "12": "f2",
  "13": "f3",
  "14": "f4",
  "15": "f5",
  "17": "f6",
  "18": "f7",
  "19": "f8",
  "20": "f9",
  "21": "f10",
  "23": "f11",
  "24": "f12",
};

const FINAL_LETTER: Record<string, KeyName> = {
  A: "up",
  B: "down",
  C: "right",
  D: "left",
  H: "home",
  F: "end",
  Z: "backtab",
};

function named(name: KeyName | `f${number}`): Key {
  if (name.startsWith("f") && /^f\d+$/.test(name)) return { name: "f", ch: name.slice(1) };
  return { name: name as KeyName };
}

/**
 * Decode one chunk of terminal input. A lone ESC at the end of a chunk is the
 * Escape key (terminals send a whole sequence in one write).
 */
export function decodeKeys(text: string): Key[] {
  const keys: Key[] = [];
  const chars = Array.from(text);
  let i = 0;
  while (i < chars.length) {
    const c = chars[i];
    if (c === "\x1b") {
      const next = chars[i + 1];
      if (next === undefined) {
        keys.push({ name: "escape" });
        i++;
        continue;
      }
      if (next === "[" || next === "O") {
        // CSI / SS3: parameters then a final byte.
        let j = i + 2;
        // Linux console F1–F5: ESC [ [ A … E
        if (next === "[" && chars[j] === "[" && chars[j + 1] !== undefined) {
          const n = "ABCDE".indexOf(chars[j + 1]);
          keys.push(n >= 0 ? { name: "f", ch: String(n + 1) } : { name: "unknown" });
          i = j + 2;
          continue;
        }
        let params = "";
        while (j < chars.length && /[0-9;?]/.test(chars[j])) params += chars[j++];
        const final = chars[j];
        if (final === undefined) {
          keys.push({ name: "unknown" });
          i = j;
          continue;
        }
        i = j + 1;
        if (final === "~") {
          const k = CSI_TILDE[params.split(";")[0]];
          keys.push(k ? named(k) : { name: "unknown" });
        } else if (FINAL_LETTER[final]) {
          keys.push({ name: FINAL_LETTER[final] });
        } else if (next === "O" && "PQRS".includes(final)) {
          keys.push({ name: "f", ch: String("PQRS".indexOf(final) + 1) });
        } else if (next === "O" && final === "M") {
          keys.push({ name: "enter" });
        } else {
          keys.push({ name: "unknown" });
        }
        continue;
      }
      if (next === "\x1b") {
        keys.push({ name: "escape" });
        i++;
        continue;
      }
      keys.push({ name: "alt", ch: next.toLowerCase() });
      i += 2;
      continue;
    }
    i++;
    if (c === "\r" || c === "\n") {
      // A CR LF pair from a terminal in odd mode is one Enter.
      if (c === "\r" && chars[i] === "\n") i++;
      keys.push({ name: "enter" });
    } else if (c === "\t") keys.push({ name: "tab" });
    else if (c === "\x7f" || c === "\x08") keys.push({ name: "backspace" });
    else if (c < " ") keys.push({ name: "ctrl", ch: String.fromCharCode(c.charCodeAt(0) + 96) });
    else if (c >= "\x80" && c <= "\x9f") keys.push({ name: "unknown" });
    else keys.push({ name: "char", ch: c });
  }
  return keys;
}

export function isCtrl(key: Key, letter: string): boolean {
  return key.name === "ctrl" && key.ch === letter;
}

/** Where key bytes come from: `Deno.stdin` in the program, a script in tests. */
export interface KeySource {
  read(buffer: Uint8Array): Promise<number | null>;
}

/**
 * Pull-based keyboard: a read of the terminal is only in flight while the
 * dialog waits for input. That matters for the Shell action: when the key
 * that starts the shell has been handled, nothing of ours is reading the
 * terminal, so every keystroke goes to the shell.
 */
export class Keyboard {
  readonly #source: KeySource;
  readonly #queue: Key[] = [];
  readonly #decoder = new TextDecoder();
  #reading: Promise<void> | undefined;
  #eof = false;

  constructor(source: KeySource) {
    this.#source = source;
  }

  /** Resolves when at least one key is queued; starts a read only if none is in flight. */
  wait(): Promise<void> {
    if (this.#queue.length > 0) return Promise.resolve();
    if (this.#eof) return new Promise(() => {});
    this.#reading ??= this.#readOnce().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading.then(() => this.wait());
  }

  /** The next queued key, if any; never reads. */
  take(): Key | undefined {
    return this.#queue.shift();
  }

  /** A read is outstanding (keystrokes would come to us, not to a child process). */
  get reading(): boolean {
    return this.#reading !== undefined;
  }

  async #readOnce(): Promise<void> {
    const buffer = new Uint8Array(1024);
    let n: number | null;
    try {
      n = await this.#source.read(buffer);
    } catch {
      n = null;
    }
    if (n === null) {
      this.#eof = true;
      this.#queue.push({ name: "eof" });
      return;
    }
    this.#queue.push(...decodeKeys(this.#decoder.decode(buffer.subarray(0, n), { stream: true })));
  }
}
