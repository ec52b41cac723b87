/**
 * A log pane's scroll-back is moved by keys and new lines, bounded by the
 * layout, and only read when drawn: a frame at another size in between
 * leaves the pane where the keys put it.
 */
import assert from "node:assert/strict";
import { LogScroll } from "../src/screens/log_scroll.ts";
import { RunningScreen } from "../src/screens/running.ts";
import type { Size } from "../src/screens/terminal.ts";
import { lineText } from "../src/screens/text.ts";
import { fakeCtx, fakeDeps, sampleConfig } from "./helpers/screens_fixtures.ts";

Deno.test("log scroll: keys move from what is shown, the layout bounds it", () => {
  const s = new LogScroll();
  s.by(30);
  assert.equal(s.shown, 30, "no layout yet: nothing bounds it");
  s.layout(12);
  assert.equal(s.shown, 12, "12 rows above the pane");
  assert.equal(s.wanted, 30);
  s.by(-10);
  assert.equal(s.shown, 2, "PgDn from what is shown, not from what was asked");
  s.by(100);
  assert.equal(s.wanted, 12, "PgUp stops at the oldest row");
  s.grew();
  assert.equal(s.wanted, 13, "scrolled up, a new line keeps the same lines in view");
  s.end();
  s.grew();
  assert.equal(s.shown, 0, "at the newest row, new lines are followed");
});

Deno.test("running screen: a frame at another size in between leaves the log pane as it was", () => {
  const wide: Size = { width: 80, height: 24 };
  const tall: Size = { width: 50, height: 60 };
  const make = () => {
    const screen = new RunningScreen({ config: sampleConfig() }, fakeDeps());
    screen.start(fakeCtx({ t: 0 }));
    for (let i = 0; i < 100; i++) screen.onEvent({ type: "output", line: `output line ${i}` });
    return screen;
  };
  const text = (screen: RunningScreen) => screen.render(wide).lines.map(lineText).join("\n");
  const quiet = make();
  const busy = make();
  try {
    const keys = [
      ...Array(12).fill("pageup"),
      "pagedown",
      "pagedown",
      "end",
      "pageup",
    ] as const;
    for (const name of keys) {
      // Drawn tall, then again as the user sees it before the key.
      busy.render(tall);
      busy.render(wide);
      busy.render(wide);
      quiet.screenKey({ name });
      busy.screenKey({ name });
      assert.equal(text(busy), text(quiet), `after ${name}`);
    }
    // Twelve PgUp went past the oldest line: the heading counts what is shown.
    quiet.screenKey({ name: "end" });
    for (let i = 0; i < 12; i++) quiet.screenKey({ name: "pageup" });
    const screen = text(quiet);
    const up = Number(/scrolled up (\d+) lines/.exec(screen)?.[1]);
    assert.ok(up < 100, `the heading says ${up} lines up`);
    assert.match(screen, /^ output line 0$/m);
  } finally {
    quiet.stop();
    busy.stop();
  }
});
