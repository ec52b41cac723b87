/**
 * Editing a text field, without a screen: typing into a pre-filled field
 * replaces it, moving the cursor first edits it, and the focus ring decides
 * when a value counts as freshly selected. Drawing a field only reads its
 * state: the view of a long value moves with keys, never with drawing.
 */
import assert from "node:assert/strict";
import { FieldState } from "../src/screens/field_state.ts";
import type { Key } from "../src/screens/keys.ts";
import { FocusRing } from "../src/screens/focus_ring.ts";
import { TextField } from "../src/screens/text_field.ts";
import { ConnectionScreen } from "../src/screens/connection.ts";
import type { Size } from "../src/screens/terminal.ts";
import { lineText } from "../src/screens/text.ts";
import { fakeCtx, fakeDeps, sampleModel } from "./helpers/screens_fixtures.ts";

const ch = (c: string): Key => ({ name: "char", ch: c });
const key = (name: Key["name"], c?: string): Key => c === undefined ? { name } : { name, ch: c };

function type(field: { key(k: Key): unknown }, text: string): void {
  for (const c of text) field.key(ch(c));
}

Deno.test("field: typing into a focused pre-filled field replaces the value", () => {
  const f = new FieldState("/var/tmp");
  f.focus();
  assert.equal(f.replacing, true);
  type(f, "/var/lib/libvirt");
  assert.equal(f.value, "/var/lib/libvirt");
  assert.equal(f.cursor, 16);
  assert.equal(f.replacing, false);
});

Deno.test("field: a field never focused, or empty, is typed into as usual", () => {
  const f = new FieldState("abc");
  type(f, "d");
  assert.equal(f.value, "abcd", "without the focus nothing is selected");
  const empty = new FieldState("");
  empty.focus();
  assert.equal(empty.replacing, false);
  type(empty, "xy");
  assert.equal(empty.value, "xy");
});

Deno.test("field: moving the cursor first means editing, not replacing", () => {
  const cases: [Key[], string, number][] = [
    [[key("left")], "/var/tmXp", 8],
    [[key("right")], "/var/tmpX", 9],
    [[key("home")], "X/var/tmp", 1],
    [[key("end")], "/var/tmpX", 9],
    [[key("backspace")], "/var/tmX", 8],
    [[key("ctrl", "a")], "X/var/tmp", 1],
    [[key("ctrl", "e")], "/var/tmpX", 9],
    [[key("home"), key("delete")], "Xvar/tmp", 1],
  ];
  for (const [keys, want, cursor] of cases) {
    const f = new FieldState("/var/tmp");
    f.focus();
    for (const k of keys) f.key(k);
    assert.equal(f.replacing, false, `${JSON.stringify(keys)} ends the selection`);
    f.key(ch("X"));
    assert.equal(f.value, want, JSON.stringify(keys));
    assert.equal(f.cursor, cursor, JSON.stringify(keys));
  }
});

Deno.test("field: keys the field does not use leave the value selected", () => {
  const f = new FieldState("22");
  f.focus();
  for (const k of [key("tab"), key("up"), key("escape"), key("ctrl", "l"), key("f", "1")]) {
    assert.equal(f.key(k), false);
  }
  assert.equal(f.replacing, true);
  type(f, "2222");
  assert.equal(f.value, "2222");
});

Deno.test("field: the focus selects again; Ctrl-U clears; the length limit holds", () => {
  const f = new FieldState("12345", 5);
  f.focus();
  type(f, "8");
  type(f, "0");
  assert.equal(f.value, "80");
  f.focus();
  type(f, "2");
  assert.equal(f.value, "2", "a second visit replaces what was typed on the first");
  type(f, "2345678");
  assert.equal(f.value, "22345", "no more than maxLength characters");
  f.focus();
  type(f, "9");
  assert.equal(f.value, "9", "a full field can still be replaced");
  assert.equal(f.key(key("ctrl", "u")), "changed");
  assert.equal(f.value, "");
  assert.equal(f.cursor, 0);
});

Deno.test("focus ring: moving onto a text field selects its value", () => {
  const a = new TextField("A", "/var/tmp");
  const b = new TextField("B", "root");
  const ring = new FocusRing();
  ring.set(a);
  type(a, "/srv");
  assert.equal(a.value, "/srv");
  ring.move([a, b], 1);
  assert.ok(ring.is(b));
  type(b, "admin");
  assert.equal(b.value, "admin");
  ring.move([a, b], -1);
  a.key(key("left"));
  type(a, "x");
  assert.equal(a.value, "/srxv", "back on A: Left, then typing inserts");
  // resolve() picks a field when the focused item went away: that selects too.
  const c = new TextField("C", "old");
  const ring2 = new FocusRing();
  assert.equal(ring2.resolve([c]), c);
  type(c, "new");
  assert.equal(c.value, "new");
});

/** The box as drawn, with `|` where the terminal cursor is. */
function drawn(f: TextField, focused = true): string {
  const r = f.render(focused);
  const text = lineText(r.segs);
  return r.cursor === undefined ? text : text.slice(0, r.cursor) + "|" + text.slice(r.cursor);
}

const URL = "file:///very/long/path/to/the/key";
const MOVES: Key[] = [
  key("home"),
  ...Array(10).fill(key("right")),
  key("left"),
  ch("X"),
  key("end"),
  ...Array(6).fill(key("left")),
  key("backspace"),
  key("ctrl", "w"),
  key("right"),
];

Deno.test("field: the view of a long value moves only as far as the cursor needs", () => {
  const f = new TextField("URL", URL);
  f.focus();
  f.layout(12);
  assert.equal(drawn(f), "<o/the/key| ]", "focused: the end, where the cursor is");
  for (let i = 0; i < 3; i++) f.key(key("left"));
  assert.equal(drawn(f), "<o/the/|key ]", "Left moves the cursor in the box, not the value");
  f.key(key("home"));
  assert.equal(drawn(f), "[|file:///ve>");
  for (let i = 0; i < 10; i++) f.key(key("right"));
  assert.equal(drawn(f), "<ile:///ve|r>", "Right past the edge scrolls by one");
  f.key(key("left"));
  assert.equal(drawn(f), "<ile:///v|er>");
  assert.equal(drawn(f, false), "[file:///ve>", "unfocused: the beginning");
});

Deno.test("field: drawing twice, or at another width in between, never changes what the next key does", () => {
  // Two fields given the same keys; one is also drawn again and again,
  // narrower, unfocused and wider between them, as a resized terminal would.
  const quiet = new TextField("URL", URL);
  const busy = new TextField("URL", URL);
  for (const f of [quiet, busy]) {
    f.focus();
    f.layout(12);
  }
  for (const [i, k] of MOVES.entries()) {
    busy.render(true);
    busy.render(true);
    for (const width of [6, 40, 3]) {
      busy.layout(width);
      busy.render(true);
      busy.render(false);
    }
    busy.layout(12);
    quiet.key(k);
    busy.key(k);
    assert.equal(drawn(busy), drawn(quiet), `after key ${i} (${JSON.stringify(k)})`);
    assert.equal(busy.value, quiet.value);
  }
});

Deno.test("connection screen: a frame at another size in between leaves the field's view as it was", () => {
  const wide: Size = { width: 80, height: 24 };
  const narrow: Size = { width: 40, height: 24 };
  const identityRow = (screen: ConnectionScreen, size: Size) =>
    screen.render(size).lines.map(lineText).find((l) => l.startsWith(">SSH identity URL")) ?? "";
  const make = () => {
    const screen = new ConnectionScreen(sampleModel(), fakeDeps());
    screen.identity.value = "file:///" + "very/long/".repeat(10) + "key";
    screen.ring.set(screen.identity);
    return screen;
  };
  const quiet = make();
  const busy = make();
  const ctx = fakeCtx<unknown>({ t: 0 });
  quiet.render(wide);
  busy.render(wide);
  for (const k of [key("home"), ...Array(70).fill(key("right")), ...Array(5).fill(key("left"))]) {
    busy.render(narrow);
    busy.render(wide);
    quiet.key(k, ctx as never);
    busy.key(k, ctx as never);
    assert.equal(identityRow(busy, wide), identityRow(quiet, wide));
  }
  assert.match(identityRow(quiet, wide), /^>SSH identity URL\s+<.*>$/, "scrolled both ways");
});
