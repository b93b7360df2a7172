import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import type { Risk } from "../risk";
import { answer, renderAt, stubApi } from "../test/render";
import { PipelineRisks, RiskList } from "./Risks";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const quiet = (stageName: string, sentence: string): Risk => ({
  applicationId: "a1",
  applicationName: "shop",
  kind: "stage",
  handler: stageName,
  stageName,
  pipelineName: null,
  signal: "none",
  severity: "none",
  confidence: 0.04,
  sentence,
  attempts: 3,
  baselineAttempts: 0,
  runs: null,
  baselineRuns: null,
  failureRate: 0,
  baselineFailureRate: null,
  retryRate: 0,
  p50Seconds: 0.2,
  baselineP50Seconds: null,
  durationTrend: null,
  anomalyScore: null,
  topError: null,
  topErrorShare: null,
  failedAtStage: null,
  failedAtStageShare: null,
});

const failing: Risk = {
  ...quiet(
    "load",
    "`load` fails 18% of attempts in the last hour, up from 1%: 89% of the errors are `connection refused`.",
  ),
  signal: "failures",
  severity: "critical",
  confidence: 0.724,
  attempts: 120,
  baselineAttempts: 5000,
  failureRate: 0.18,
  baselineFailureRate: 0.01,
  retryRate: 0.15,
  p50Seconds: 2.1,
  baselineP50Seconds: 0.9,
  durationTrend: 2.33,
  anomalyScore: 4.26,
  topError: "connection refused",
  topErrorShare: 0.89,
};

const greet = quiet("greet", "`greet`: too few attempts to compare in the last hour.");

// A nightly run that took ten times its usual.
const slowRun: Risk = {
  ...quiet(
    "",
    "A run of `nightly` took 10.2 min in the last hour, 10.1 times its usual 1.0 min (anomaly score 152.3).",
  ),
  kind: "pipeline",
  handler: null,
  stageName: null,
  pipelineName: "nightly",
  signal: "duration",
  severity: "critical",
  confidence: 0.21,
  attempts: 3,
  baselineAttempts: 84,
  runs: 1,
  baselineRuns: 28,
  p50Seconds: 612,
  baselineP50Seconds: 60.5,
  durationTrend: 10.1,
  anomalyScore: 152.3,
};
const hourly: Risk = {
  ...slowRun,
  pipelineName: "hourly",
  signal: "none",
  severity: "none",
  sentence: "`hourly` runs as usual in the last hour.",
  runs: 6,
};

describe("RiskList", () => {
  it("puts the stages that stand out first, with their sentence and figures, the others folded", () => {
    render(<RiskList items={[failing, greet]} window="1h" />);
    const risks = screen.getByRole("list", { name: "risks" });
    const item = within(risks).getByRole("listitem");
    expect(item.dataset.severity).toBe("critical");
    expect(within(item).getByText("critical")).toBeTruthy();
    expect(within(item).getByText("connection refused").tagName).toBe("CODE");
    expect(item.textContent).toContain("fails 18% of attempts in the last hour, up from 1%");
    expect(item.textContent).toContain("72 % confident");
    expect(item.textContent).toContain("Failures 18.0 % usually 1.0 %");
    expect(item.textContent).toContain("p50 2.1 s usually 900 ms (×2.3)");
    expect(item.textContent).toContain("Anomaly score 4.3");
    // The quiet stage is there, folded away.
    const folded = screen.getByText(/1 stage as usual/).closest("details") as HTMLDetailsElement;
    expect(folded.open).toBe(false);
    expect(within(folded).getByText(/too few attempts to compare in the last hour/)).toBeTruthy();
  });

  it("lists a pipeline's runs beside the stages, with runs for attempts and a link to its runs", () => {
    renderAt("/insights", "/insights", <RiskList items={[slowRun, failing, hourly, greet]} window="1h" />);
    const risks = screen.getByRole("list", { name: "risks" });
    const [first] = within(risks).getAllByRole("listitem");
    expect(first!.dataset.kind).toBe("pipeline");
    expect(first!.dataset.risk).toBe("nightly");
    expect(within(first!).getByText("pipeline")).toBeTruthy();
    expect(within(first!).getByRole("link", { name: "nightly" }).getAttribute("href")).toBe(
      "/pipelines?search=nightly&application=a1",
    );
    expect(first!.textContent).toContain("A run of nightly took 10.2 min in the last hour");
    expect(first!.textContent).toContain("Run p50 10 min 12 s usually 1 min 1 s (×10)");
    expect(first!.textContent).toContain("Runs 1 against 28 in the week before");
    expect(first!.textContent).not.toContain("Attempts");
    expect(first!.textContent).not.toContain("Stage failures at");
    const folded = screen
      .getByText(/1 stage and 1 pipeline as usual/)
      .closest("details") as HTMLDetailsElement;
    expect(within(folded).getByText("6 runs")).toBeTruthy();
    expect(within(folded).getByText("3 attempts")).toBeTruthy();
  });

  it("names the stage a pipeline's failures were at", () => {
    const etl: Risk = {
      ...slowRun,
      signal: "failures",
      failureRate: 0.4,
      failedAtStage: "load",
      failedAtStageShare: 0.75,
    };
    renderAt("/insights", "/insights", <RiskList items={[etl]} window="1h" />);
    expect(screen.getByRole("listitem").textContent).toContain("Stage failures at load (75.0 %)");
  });

  it("gives no trend without a usual median", () => {
    render(<RiskList items={[{ ...failing, baselineP50Seconds: null, durationTrend: null }]} window="1h" />);
    expect(screen.getByRole("listitem").textContent).toContain("p50 2.1 s usually —Anomaly score");
  });

  it("says nothing stands out when none has a severity; the quiet stages open from their summary", () => {
    render(<RiskList items={[greet]} window="6h" />);
    expect(screen.getByText("Nothing stands out in the last 6 hours, against the week before.")).toBeTruthy();
    expect(screen.queryByRole("list", { name: "risks" })).toBeNull();
    const summary = screen.getByText(/1 stage as usual/);
    const folded = summary.closest("details") as HTMLDetailsElement;
    expect(folded.open).toBe(false);
    fireEvent.click(summary);
    expect(folded.open).toBe(true);
    expect(within(folded).getByText("3 attempts")).toBeTruthy();
  });

  it("says when no attempt ended in the window", () => {
    render(<RiskList items={[]} window="15m" />);
    expect(screen.getByText("No attempt ended in the last 15 minutes.")).toBeTruthy();
  });
});

describe("PipelineRisks", () => {
  const show = (items: Risk[]) => {
    const fetch = stubApi({ "GET /api/insights/risks": () => answer(200, { items }) });
    renderAt("/pipelines/p1", "/pipelines/:id", <PipelineRisks application="a1" pipeline="nightly" />);
    return fetch;
  };

  it("asks for the stages of runs of its name, and says the sentences of those that stand out", async () => {
    const fetch = show([failing, greet]);
    const list = await screen.findByRole("list", { name: "risks of this pipeline" });
    const asked = new URL(fetch.mock.calls[0]![0].url).searchParams;
    expect(asked.get("pipeline")).toBe("nightly");
    expect(asked.get("application")).toBe("a1");
    expect(asked.get("window")).toBe("1h");
    expect(list.textContent).toContain("fails 18% of attempts in the last hour");
    expect(list.textContent).not.toContain("greet");
    expect(within(list).getByRole("link", { name: "Insights" }).getAttribute("href")).toBe(
      "/insights?application=a1",
    );
  });

  it("says its own runs first when they stand out, and its stages after", async () => {
    show([slowRun, failing, greet]);
    const list = await screen.findByRole("list", { name: "risks of this pipeline" });
    const items = within(list).getAllByRole("listitem");
    expect(items.map((item) => item.dataset.kind)).toEqual(["pipeline", "stage", undefined]);
    expect(items[0]!.textContent).toContain("A run of nightly took 10.2 min");
  });

  it("says its stages run as usual when none stands out", async () => {
    show([greet]);
    await screen.findByText(
      /Runs as usual in the last hour, against the week before, though with few attempts/,
    );
  });

  it("says when none of its stages ran lately", async () => {
    show([]);
    await screen.findByText(/No stage of nightly ended an attempt in the last hour\./);
  });

  it("says it could not read them, quietly", async () => {
    stubApi({});
    renderAt("/pipelines/p1", "/pipelines/:id", <PipelineRisks application="a1" pipeline="nightly" />);
    await screen.findByText(/Could not read how it does lately/);
  });
});
