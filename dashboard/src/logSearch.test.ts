import { describe, expect, it } from "vitest";

import { markWords, searchedWords, windowStart } from "./logSearch";

describe("searchedWords", () => {
  it("takes the words looked for, not those left out nor the or between", () => {
    expect(searchedWords('Timeout "connection refused" -retry disk or memory')).toEqual([
      "timeout",
      "connection",
      "refused",
      "disk",
      "memory",
    ]);
    expect(searchedWords('-"left out" db-1')).toEqual(["db", "1"]);
    expect(searchedWords("")).toEqual([]);
  });
});

describe("markWords", () => {
  it("marks whole words in any case", () => {
    expect(markWords("Connection refused; reconnection later", ["connection"])).toEqual([
      { text: "Connection", marked: true },
      { text: " refused; reconnection later", marked: false },
    ]);
  });

  it("leaves a line without words as it is, and does not read words as patterns", () => {
    expect(markWords("a.b (c)", [])).toEqual([{ text: "a.b (c)", marked: false }]);
    expect(markWords("a.b axb", ["a.b"])).toEqual([
      { text: "a.b", marked: true },
      { text: " axb", marked: false },
    ]);
  });
});

describe("windowStart", () => {
  it("is the window's start before now, and nothing for all", () => {
    const now = Date.parse("2026-12-04T12:00:00Z");
    expect(windowStart("1h", now)).toBe("2026-12-04T11:00:00.000Z");
    expect(windowStart("all", now)).toBeUndefined();
  });
});
