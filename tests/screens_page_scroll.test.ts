/**
 * A page longer than the screen scrolls to keep the focus in view, moving
 * only as far as it needs; a frame drawn at another size in between leaves
 * the page where the keys put it.
 */
import assert from "node:assert/strict";
import type { Key } from "../src/screens/keys.ts";
import { PageScroll } from "../src/screens/page_scroll.ts";
import { SettingsScreen } from "../src/screens/settings.ts";
import type { Size } from "../src/screens/terminal.ts";
import { lineText } from "../src/screens/text.ts";
import { fakeCtx, fakeDeps, sampleModel } from "./helpers/screens_fixtures.ts";

Deno.test("page scroll: the focus is kept in view, moving the page no more than needed", () => {
  const s = new PageScroll();
  assert.equal(s.layout(50, 10, 25), 16, "focus below: it becomes the last row");
  s.settle();
  assert.equal(s.layout(50, 10, 20), 16, "still in view: the page stays");
  assert.equal(s.layout(50, 40, 20), 10, "taller: no blank rows after the body");
  assert.equal(s.layout(50, 10, 20), 16, "a frame at another size did not move it");
  s.settle();
  s.by(-10);
  assert.equal(s.layout(50, 10, undefined), 6, "PgUp from what was shown");
  s.settle();
  s.by(10);
  s.settle();
  s.by(10);
  assert.equal(s.layout(50, 10, undefined), 26, "two PgDn before a frame add up");
  assert.equal(s.layout(50, 10, undefined), 26);
});

Deno.test("settings screen: a frame at another size in between leaves the page as it was", () => {
  const small: Size = { width: 80, height: 14 };
  const tall: Size = { width: 100, height: 60 };
  const ctx = fakeCtx<unknown>({ t: 0 });
  const make = () => new SettingsScreen(sampleModel(), fakeDeps());
  const text = (screen: SettingsScreen) => screen.render(small).lines.map(lineText).join("\n");
  const quiet = make();
  const busy = make();
  text(quiet);
  text(busy);
  const keys: Key[] = [
    ...Array(14).fill({ name: "tab" }),
    ...Array(4).fill({ name: "backtab" }),
    { name: "tab" },
  ];
  let scrolled = false;
  for (const [i, k] of keys.entries()) {
    busy.render(tall);
    busy.render(small);
    quiet.key(k, ctx as never);
    busy.key(k, ctx as never);
    const seen = text(quiet);
    scrolled ||= seen.includes("^ more");
    assert.equal(text(busy), seen, `after key ${i} (${k.name})`);
  }
  assert.ok(scrolled, "the page never scrolled at 80x14: the test proves nothing");
});
