import assert from "node:assert/strict";
import { hardWrap, shortenStart, sliceLine, wrapWords } from "../src/screens/text.ts";
import { clipText, graphemes, textWidth } from "../src/text/width.ts";

Deno.test("width: what terminals show, cluster by cluster", () => {
  const cases: [string, number][] = [
    ["virt-p2v", 8],
    ["cafe\u0301", 4], // e + combining acute accent
    ["Z\u0351\u0362", 1], // several combining marks on one letter
    ["\u2764\uFE0F", 2], // heart with the emoji variation selector
    ["\u2764\uFE0E", 1], // … and with the text one
    ["👍🏽", 2], // skin tone modifier
    ["👨‍👩‍👧", 2], // a family joined by zero-width joiners
    ["🇫🇷", 2], // a flag: two regional indicators
    ["日本語", 6],
    ["한국어", 6],
    ["ｆｕｌｌ", 8], // fullwidth Latin
    ["a\u200Bb", 2], // zero-width space
  ];
  for (const [text, width] of cases) assert.equal(textWidth(text), width, JSON.stringify(text));
});

Deno.test("width: clipping never splits a character from its marks or modifiers", () => {
  assert.equal(clipText("cafe\u0301s", 4), "cafe\u0301");
  assert.equal(clipText("ab👨‍👩‍👧cd", 3), "ab");
  assert.equal(clipText("ab👨‍👩‍👧cd", 4), "ab👨‍👩‍👧");
  assert.equal(clipText("日本語", 5), "日本");
  assert.deepEqual(graphemes("e\u0301🇫🇷x"), ["e\u0301", "🇫🇷", "x"]);
  assert.equal(shortenStart("/srv/ディスク.img", 9), "~スク.img");
  assert.equal(shortenStart("/srv/ディスク.img", 8), "~ク.img");
});

Deno.test("width: wrapping text of wide characters into narrow lines always progresses", () => {
  assert.deepEqual(hardWrap("日本語", 1).filter((l) => l !== ""), ["日", "本", "語"]);
  assert.deepEqual(hardWrap("ab日本", 3), ["ab", "日", "本"]);
  // A wide character straddling a cut becomes spaces, never half a glyph.
  assert.deepEqual(sliceLine([{ text: "a日b" }], 0, 2), [{ text: "a " }]);
});

/** Characters handed to grapheme segmentation while `fn` runs (string-width segments too). */
function segmentedChars(fn: () => void): number {
  const proto = Intl.Segmenter.prototype;
  const original = proto.segment;
  let chars = 0;
  proto.segment = function (this: Intl.Segmenter, text: string) {
    chars += text.length;
    return original.call(this, text);
  };
  try {
    fn();
  } finally {
    proto.segment = original;
  }
  return chars;
}

Deno.test("width: wrapping a long non-ASCII line looks at each character a bounded number of times", () => {
  for (const ch of ["é", "\uFFFD", "日"]) {
    const text = ch.repeat(64 * 1024);
    const seen = segmentedChars(() => hardWrap(text, 79));
    assert.ok(seen <= 4 * text.length, `${ch}: ${seen} characters segmented for ${text.length}`);
  }
});

Deno.test("width: 1 MiB of é wraps into full lines, nothing lost", () => {
  const text = "é".repeat(1024 * 1024);
  const rows = hardWrap(text, 80);
  assert.equal(rows.length, Math.ceil(text.length / 80));
  assert.ok(rows.slice(0, -1).every((r) => r.length === 80 && textWidth(r) === 80));
  assert.equal(rows.join(""), text);
  // Wide characters: two columns each, so 40 to a line of 80 (and 39 to one of 79).
  assert.ok(hardWrap("日".repeat(1000), 79).slice(0, -1).every((r) => r === "日".repeat(39)));
});

Deno.test("wrapWords breaks only between words, and cuts only a word wider than a line", () => {
  const words = ["p2v.server=conv", 'p2v.pre="echo a b c"', "p2v.o=local"];
  assert.deepEqual(wrapWords(words, 20), [
    "p2v.server=conv",
    'p2v.pre="echo a b c"',
    "p2v.o=local",
  ]);
  assert.deepEqual(wrapWords(words, 40), ['p2v.server=conv p2v.pre="echo a b c"', "p2v.o=local"]);
  assert.deepEqual(wrapWords(["abcdefgh", "ij"], 3), ["abc", "def", "gh", "ij"]);
  assert.deepEqual(wrapWords(["ab", "cdefg", "h"], 4), ["ab", "cdef", "g h"]);
  assert.deepEqual(wrapWords([], 10), []);
});

Deno.test("wrapWords with full rows running on: only a cut word fills a row", () => {
  const opt = { fullRowRunsOn: true };
  // Whole words stop a column short of the edge...
  assert.deepEqual(wrapWords(["abc", "d"], 5, opt), ["abc", "d"]);
  assert.deepEqual(wrapWords(["ab", "c"], 5, opt), ["ab c"]);
  // ...a word as wide as the row is a cut word...
  assert.deepEqual(wrapWords(["abcde", "f"], 5, opt), ["abcde", "", "f"]);
  // ...and a cut word that ends at the edge is followed by an empty row.
  assert.deepEqual(wrapWords(["x", "abcdefghij", "k"], 5, opt), ["x", "abcde", "fghij", "", "k"]);
  assert.deepEqual(wrapWords(["abcdefg", "h"], 5, opt), ["abcde", "fg h"]);
  // Read back as the screen says (a full row runs on), every word comes back.
  for (
    const words of [["p2v.a=1", "p2v.bb=22222222", "p2v.c=3"], ["p2v.x=" + "y".repeat(14), "p2v.z"]]
  ) {
    for (let width = 6; width < 30; width++) {
      const rows = wrapWords(words, width, opt);
      const back: string[] = [];
      let runOn = false;
      for (const row of rows) {
        const [first, ...rest] = row === "" ? [] : row.split(" ");
        if (runOn && first !== undefined) back[back.length - 1] += first;
        else if (first !== undefined) back.push(first);
        back.push(...rest);
        runOn = row.length === width;
      }
      assert.deepEqual(back, words, `width ${width}: ${JSON.stringify(rows)}`);
    }
  }
});
