// Risk: how each stage, and each pipeline name, does lately against its own week. The Insights
// page lists them all, those that stand out first; a pipeline's page says in a line or two how
// it and its stages do.
import type { ReactNode } from "react";
import { Link } from "react-router";

import { count, duration, percent } from "../format";
import { type RiskWindow, useRisks } from "../queries";
import {
  anomaly,
  confidence,
  type Risk,
  riskKey,
  riskName,
  sampleWords,
  splitRisks,
  trend,
  WINDOW_WORDS,
} from "../risk";
import { SeverityBadge } from "../status";
import { Sentence } from "./Sentence";

/** How sure the comparison is (it grows with the samples on both sides): a bar and its figure. */
export function Confidence({ value }: { value: number }) {
  const shown = confidence(value);
  return (
    <span
      className="inline-flex items-center gap-1.5 text-xs text-muted"
      title="grows with the attempts (or runs) compared"
    >
      <span
        aria-hidden
        className="inline-block h-1.5 w-12 overflow-hidden rounded bg-slate-200 dark:bg-slate-700"
      >
        <span
          className="block h-full bg-slate-500 dark:bg-slate-300"
          style={{ width: shown.replace(" ", "") }}
        />
      </span>
      {shown} confident
    </span>
  );
}

const EDGE: Record<string, string> = {
  info: "border-l-sky-400 dark:border-l-sky-600",
  warning: "border-l-amber-400 dark:border-l-amber-500",
  critical: "border-l-red-600 dark:border-l-red-500",
};

function Figure({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <dt className="inline text-muted">{label} </dt>
      <dd className="inline tabular-nums">{children}</dd>
    </div>
  );
}

/** Who a risk is about: the stage and its handler, or the pipeline (to its runs). */
function RiskSubject({ risk }: { risk: Risk }) {
  if (risk.kind === "pipeline") {
    const name = risk.pipelineName ?? "";
    return (
      <>
        <span className="rounded bg-slate-100 px-1.5 text-xs text-muted dark:bg-slate-800">pipeline</span>
        <Link
          to={`/pipelines?search=${encodeURIComponent(name)}&application=${encodeURIComponent(risk.applicationId)}`}
          className="font-medium text-sky-700 underline-offset-2 hover:underline dark:text-sky-400"
        >
          {name}
        </Link>
      </>
    );
  }
  return (
    <>
      <span className="font-medium">{risk.stageName}</span>
      <span className="font-mono text-xs">{risk.handler}</span>
    </>
  );
}

/** A stage or pipeline that stands out: its severity, the sentence, and the figures behind it. */
function RiskItem({ risk }: { risk: Risk }) {
  const pipeline = risk.kind === "pipeline";
  return (
    <li
      data-risk={riskName(risk)}
      data-kind={risk.kind}
      data-severity={risk.severity}
      className={`rounded border border-l-4 border-slate-200 p-3 dark:border-slate-800 ${EDGE[risk.severity] ?? ""}`}
    >
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
        <SeverityBadge severity={risk.severity} />
        <RiskSubject risk={risk} />
        <span className="text-xs text-muted">{risk.applicationName}</span>
        <span className="ml-auto">
          <Confidence value={risk.confidence} />
        </span>
      </div>
      <p className="mt-1.5">
        <Sentence text={risk.sentence} />
      </p>
      <dl className="mt-1.5 flex flex-wrap gap-x-5 gap-y-1 text-xs">
        <Figure label={pipeline ? "Failed runs" : "Failures"}>
          {percent(risk.failureRate)} <span className="text-muted">usually</span>{" "}
          {percent(risk.baselineFailureRate)}
        </Figure>
        <Figure label="Retried">{percent(risk.retryRate)}</Figure>
        <Figure label={pipeline ? "Run p50" : "p50"}>
          {duration(risk.p50Seconds)} <span className="text-muted">usually</span>{" "}
          {duration(risk.baselineP50Seconds)}
          {risk.durationTrend !== null && ` (${trend(risk.durationTrend)})`}
        </Figure>
        <Figure label="Anomaly score">{anomaly(risk.anomalyScore)}</Figure>
        {risk.failedAtStage !== null && (
          <Figure label="Stage failures at">
            <code>{risk.failedAtStage}</code> ({percent(risk.failedAtStageShare)})
          </Figure>
        )}
        {pipeline ? (
          <Figure label="Runs">
            {count(risk.runs ?? 0)} <span className="text-muted">against</span>{" "}
            {count(risk.baselineRuns ?? 0)} <span className="text-muted">in the week before</span>
          </Figure>
        ) : (
          <Figure label="Attempts">
            {count(risk.attempts)} <span className="text-muted">against</span> {count(risk.baselineAttempts)}{" "}
            <span className="text-muted">in the week before</span>
          </Figure>
        )}
      </dl>
    </li>
  );
}

/** "2 stages and 1 pipeline": what the quiet list folds away. */
function quietWords(quiet: Risk[]): string {
  const pipelines = quiet.filter((risk) => risk.kind === "pipeline").length;
  const stages = quiet.length - pipelines;
  const parts = [];
  if (stages > 0) parts.push(stages === 1 ? "1 stage" : `${stages} stages`);
  if (pipelines > 0) parts.push(pipelines === 1 ? "1 pipeline" : `${pipelines} pipelines`);
  return parts.join(" and ");
}

/** Every stage with recent attempts and pipeline with recent runs: those that stand out first,
 * the others folded below them. */
export function RiskList({ items, window }: { items: Risk[]; window: RiskWindow }) {
  const { risky, quiet } = splitRisks(items);
  const since = `in the last ${WINDOW_WORDS[window]}`;
  if (items.length === 0) return <p className="py-4 text-sm text-muted">No attempt ended {since}.</p>;
  return (
    <div className="space-y-3 text-sm">
      {risky.length > 0 ? (
        <ul aria-label="risks" className="space-y-2">
          {risky.map((risk) => (
            <RiskItem key={riskKey(risk)} risk={risk} />
          ))}
        </ul>
      ) : (
        <p>Nothing stands out {since}, against the week before.</p>
      )}
      {quiet.length > 0 && (
        // Folded, however many they are: those that stand out stay at the top of the page.
        <details>
          <summary className="cursor-pointer text-muted">
            {quietWords(quiet)} as usual, or with too few to compare
          </summary>
          <ul aria-label="as usual" className="mt-2 divide-y divide-slate-100 dark:divide-slate-800">
            {quiet.map((risk) => (
              <li
                key={riskKey(risk)}
                data-risk={riskName(risk)}
                data-kind={risk.kind}
                data-severity="none"
                className="flex flex-wrap items-baseline gap-x-3 py-1.5"
              >
                <span className="mr-auto">
                  <Sentence text={risk.sentence} />{" "}
                  <span className="text-xs text-muted">{risk.applicationName}</span>
                </span>
                <span className="text-xs text-muted tabular-nums">{sampleWords(risk, count)}</span>
                <Confidence value={risk.confidence} />
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}

/** A pipeline's page: the sentences of its name's runs and of its stages, those that stand out
 * lately, or a quiet line. */
export function PipelineRisks({ application, pipeline }: { application: string; pipeline: string }) {
  const window: RiskWindow = "1h";
  const risks = useRisks(window, { application, pipeline });
  const since = `in the last ${WINDOW_WORDS[window]}`;
  const more = (
    <Link
      to={`/insights?application=${encodeURIComponent(application)}`}
      className="text-sky-700 underline underline-offset-2 dark:text-sky-400"
    >
      Insights
    </Link>
  );
  let body;
  if (risks.isError) {
    body = <p className="text-muted">Could not read how it does lately: {risks.error.message}</p>;
  } else if (risks.isPending) {
    body = <p className="text-muted">Reading how it does lately…</p>;
  } else {
    const items = risks.data.items;
    const { risky } = splitRisks(items);
    if (risky.length === 0) {
      const sure = Math.max(0, ...items.map((risk) => risk.confidence));
      body = (
        <p className="text-muted">
          {items.length === 0
            ? `No stage of ${pipeline} ended an attempt ${since}.`
            : `Runs as usual ${since}, against the week before${sure < 0.5 ? ", though with few attempts to go by" : ""}.`}{" "}
          {more}
        </p>
      );
    } else {
      body = (
        <ul aria-label="risks of this pipeline" className="space-y-1">
          {risky.map((risk) => (
            <li
              key={riskKey(risk)}
              data-risk={riskName(risk)}
              data-kind={risk.kind}
              data-severity={risk.severity}
              className="flex flex-wrap items-baseline gap-x-2"
            >
              <SeverityBadge severity={risk.severity} />
              <span>
                <Sentence text={risk.sentence} />
              </span>
              <Confidence value={risk.confidence} />
            </li>
          ))}
          <li className="text-xs text-muted">Against the week before; more on {more}.</li>
        </ul>
      );
    }
  }
  return (
    <section aria-label="risk" className="text-sm">
      {body}
    </section>
  );
}
