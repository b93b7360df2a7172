// Risk as people read it: the stages and pipelines that stand out apart from those that run as
// usual, the API's sentences with their `code` spans, and the figures beside them.
import type { Schemas } from "./api/client";
import type { RiskWindow } from "./queries";

export type Risk = Schemas["RiskView"];

/** The words a window is said in: "in the last hour". */
export const WINDOW_WORDS: Record<RiskWindow, string> = {
  "15m": "15 minutes",
  "1h": "hour",
  "6h": "6 hours",
  "24h": "24 hours",
};

/** A risk's own key: a stage of a handler, or a pipeline name, in an application. */
export function riskKey(risk: Risk): string {
  return risk.kind === "pipeline"
    ? `${risk.applicationId}/pipeline/${risk.pipelineName}`
    : `${risk.applicationId}/${risk.handler}/${risk.stageName}`;
}

/** What a risk is about, as a list names it: the stage, or the pipeline. */
export function riskName(risk: Risk): string {
  return (risk.kind === "pipeline" ? risk.pipelineName : risk.stageName) ?? "";
}

/** "3 attempts", or a pipeline's "1 run". */
export function sampleWords(risk: Risk, count: (n: number) => string): string {
  if (risk.kind === "pipeline") {
    const runs = risk.runs ?? 0;
    return runs === 1 ? "1 run" : `${count(runs)} runs`;
  }
  return risk.attempts === 1 ? "1 attempt" : `${count(risk.attempts)} attempts`;
}

/** Those with a severity, in the API's order (riskiest first), apart from the quiet ones. */
export function splitRisks(items: Risk[]): { risky: Risk[]; quiet: Risk[] } {
  return {
    risky: items.filter((risk) => risk.severity !== "none"),
    quiet: items.filter((risk) => risk.severity === "none"),
  };
}

/** A sentence cut at its backticks: the names and errors it quotes are `code`. */
export function sentenceParts(sentence: string): Array<{ text: string; code: boolean }> {
  const parts = sentence.split("`");
  // An odd number of backticks (an error quoting one): the last one opens nothing.
  if (parts.length % 2 === 0) parts.splice(-2, 2, `${parts.at(-2)}\`${parts.at(-1)}`);
  return parts.map((text, index) => ({ text, code: index % 2 === 1 })).filter((part) => part.text !== "");
}

/** A confidence between 0 and 1 as a whole percentage. */
export function confidence(value: number): string {
  return `${Math.round(Math.min(1, Math.max(0, value)) * 100)} %`;
}

/** The recent median over the usual one: "×2.3"; unknown as a dash. */
export function trend(value: number | null): string {
  if (value === null) return "—";
  return `×${value >= 10 ? value.toFixed(0) : value.toFixed(1)}`;
}

/** Robust deviations above the usual median: "4.2"; unknown as a dash. */
export function anomaly(value: number | null): string {
  return value === null ? "—" : value.toFixed(1);
}
