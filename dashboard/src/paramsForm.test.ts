import { describe, expect, it } from "vitest";

import { fieldsOf, initialValues, paramsFrom, valuesOf } from "./paramsForm";

const SCHEMA = {
  type: "object",
  properties: {
    day: { type: "string", format: "date", title: "Day" },
    limit: { type: "integer", default: 100 },
    ratio: { type: "number" },
    country: { type: "string", enum: ["NO", "SE"] },
    dryRun: { type: "boolean", default: true },
    window: { type: "object", description: "start and end" },
  },
  required: ["day", "country"],
};

describe("the params form", () => {
  it("has a typed field per property, with the schema's defaults", () => {
    const fields = fieldsOf(SCHEMA);
    expect(fields.map((f) => [f.name, f.kind, f.required])).toEqual([
      ["day", "date", true],
      ["limit", "integer", false],
      ["ratio", "number", false],
      ["country", "choice", true],
      ["dryRun", "boolean", false],
      ["window", "json", false],
    ]);
    expect(fields[0]?.label).toBe("Day");
    expect(fields[3]?.options).toEqual(["NO", "SE"]);
    expect(initialValues(fields)).toEqual({
      day: "",
      limit: "100",
      ratio: "",
      country: "",
      dryRun: true,
      window: "",
    });
  });

  it("turns the values into JSON of the right types, leaving out empty optional fields", () => {
    const fields = fieldsOf(SCHEMA);
    const values = { ...initialValues(fields), day: "2026-12-01", country: "NO", window: '{"start": 1}' };
    expect(paramsFrom(fields, values)).toEqual({
      params: { day: "2026-12-01", limit: 100, country: "NO", dryRun: true, window: { start: 1 } },
    });
  });

  it("shows params chosen before, and the defaults of those they leave out", () => {
    const fields = fieldsOf(SCHEMA);
    const values = valuesOf(fields, {
      day: "2026-12-01",
      country: "SE",
      dryRun: false,
      window: { start: 1 },
    });
    expect(values).toEqual({
      day: "2026-12-01",
      limit: "100",
      ratio: "",
      country: "SE",
      dryRun: false,
      window: '{"start":1}',
    });
    expect(paramsFrom(fields, values)).toEqual({
      params: { day: "2026-12-01", limit: 100, country: "SE", dryRun: false, window: { start: 1 } },
    });
  });

  it("names the field it cannot read", () => {
    const fields = fieldsOf(SCHEMA);
    const base = { ...initialValues(fields), day: "2026-12-01", country: "NO" };
    expect(paramsFrom(fields, { ...base, day: " " })).toEqual({ problem: "Day is required" });
    expect(paramsFrom(fields, { ...base, limit: "1.5" })).toEqual({
      problem: "limit must be a whole number",
    });
    expect(paramsFrom(fields, { ...base, ratio: "abc" })).toEqual({ problem: "ratio must be a number" });
    expect(paramsFrom(fields, { ...base, window: "{" })).toEqual({ problem: "window must be JSON" });
  });

  it("has no fields without a schema", () => {
    expect(fieldsOf(null)).toEqual([]);
    expect(paramsFrom([], {})).toEqual({ params: {} });
  });
});
