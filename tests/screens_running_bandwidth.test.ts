/**
 * The Running screen's bandwidth cap: it starts at p2v.bandwidth, is the one
 * the conversion is handed, and + and - change it while it runs (shown in
 * the header and noted in the log).
 */
import assert from "node:assert/strict";
import type { RateLimit } from "../src/net/rate_limit.ts";
import { RunningScreen } from "../src/screens/running.ts";
import { lineText } from "../src/screens/text.ts";
import { fakeCtx, fakeDeps, sampleConfig } from "./helpers/screens_fixtures.ts";

Deno.test("running screen: + and - change the cap the conversion was handed", () => {
  let handed: RateLimit | undefined;
  const config = { ...sampleConfig(), bandwidthMbit: 80 };
  const screen = new RunningScreen(
    { config },
    fakeDeps({
      convert: (req) => {
        handed = req.bandwidth;
        return new Promise(() => {});
      },
    }),
  );
  screen.start(fakeCtx({ t: 0 }));
  try {
    const text = () => screen.render({ width: 80, height: 30 }).lines.map(lineText).join("\n");
    assert.ok(handed, "the conversion got no cap to follow");
    assert.equal(handed.mbit, 80);
    assert.match(text(), /Bandwidth cap: 80 Mbit\/s/);
    screen.screenKey({ name: "char", ch: "-" });
    assert.equal(handed.mbit, 50);
    assert.match(text(), /Bandwidth cap: 50 Mbit\/s/);
    assert.match(text(), /bandwidth cap now 50 Mbit\/s/);
    for (let i = 0; i < 20; i++) screen.screenKey({ name: "char", ch: "+" });
    assert.equal(handed.mbit, 0);
    assert.match(text(), /Bandwidth cap: unlimited/);
  } finally {
    screen.stop();
    handed?.close();
  }
});
