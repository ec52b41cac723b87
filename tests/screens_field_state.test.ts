/**
 * Editing a text field, without a screen: typing into a pre-filled field
 * replaces it, moving the cursor first edits it, and the focus ring decides
 * when a value counts as freshly selected.
 */
import assert from "node:assert/strict";
import { FieldState } from "../src/screens/field_state.ts";
import type { Key } from "../src/screens/keys.ts";
import { FocusRing } from "../src/screens/focus_ring.ts";
import { TextField } from "../src/screens/text_field.ts";

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
