/** The program version, printed by `--version` and written into every remote directory. */
export const VERSION = "2.0.0";
export const PROGRAM = "virt-p2v";
