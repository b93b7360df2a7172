import { describe, expect, it } from "vitest";

import { anomaly, confidence, type Risk, sentenceParts, splitRisks, trend } from "./risk";

const risk = (stageName: string, severity: Risk["severity"]): Risk => ({
  applicationId: "a",
  applicationName: "app",
  kind: "stage",
  handler: stageName,
  stageName,
  pipelineName: null,
  signal: severity === "none" ? "none" : "failures",
  severity,
  confidence: 0.5,
  sentence: `\`${stageName}\` runs as usual in the last hour.`,
  attempts: 10,
  baselineAttempts: 100,
  runs: null,
  baselineRuns: null,
  failureRate: 0,
  baselineFailureRate: 0,
  retryRate: 0,
  p50Seconds: 1,
  baselineP50Seconds: 1,
  durationTrend: 1,
  anomalyScore: 0,
  topError: null,
  topErrorShare: null,
  failedAtStage: null,
  failedAtStageShare: null,
});

describe("splitRisks", () => {
  it("keeps the API's order, the stages with a severity apart from the quiet ones", () => {
    const items = [risk("load", "critical"), risk("parse", "info"), risk("greet", "none"), risk("x", "none")];
    const { risky, quiet } = splitRisks(items);
    expect(risky.map((r) => r.stageName)).toEqual(["load", "parse"]);
    expect(quiet.map((r) => r.stageName)).toEqual(["greet", "x"]);
  });
});

describe("sentenceParts", () => {
  it("quotes what is between backticks as code", () => {
    expect(
      sentenceParts(
        "`load` fails 18% of attempts in the last hour: 89% of the errors are `connection refused`.",
      ),
    ).toEqual([
      { text: "load", code: true },
      { text: " fails 18% of attempts in the last hour: 89% of the errors are ", code: false },
      { text: "connection refused", code: true },
      { text: ".", code: false },
    ]);
  });

  it("keeps an odd backtick (an error quoting one) as text, losing no word", () => {
    const parts = sentenceParts("`load`: 50% of the errors are `no such key `k`.");
    expect(parts.map((part) => part.text).join("")).toBe("load: 50% of the errors are no such key k`.");
    expect(parts[0]).toEqual({ text: "load", code: true });
    expect(sentenceParts("`a` b `c")).toEqual([
      { text: "a", code: true },
      { text: " b `c", code: false },
    ]);
  });
});

describe("figures", () => {
  it("says confidence as a whole percentage, a trend as a factor, a score to a tenth", () => {
    expect(confidence(0.724)).toBe("72 %");
    expect(confidence(1.2)).toBe("100 %");
    expect(trend(2.345)).toBe("×2.3");
    expect(trend(14.6)).toBe("×15");
    expect(trend(null)).toBe("—");
    expect(anomaly(4.26)).toBe("4.3");
    expect(anomaly(null)).toBe("—");
  });
});
