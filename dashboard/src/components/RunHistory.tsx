// A pipeline name's run history: runs, success rate and run times over a range; run time per
// bucket (p50 and p95); outcomes per bucket; the latest runs, one mark each; and how long each
// stage took over them. On a definition's page, and at /runs for any name.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { dateTime, duration, percent } from "../format";
import { WindowPicker } from "./RangePicker";
import { bucketSlots } from "./ThroughputChart";
import { Card, Empty, Loaded, Table } from "./ui";

type History = Schemas["RunHistoryView"];
type Range = "24h" | "7d" | "30d";
const RANGES: Range[] = ["24h", "7d", "30d"];
const WIDTH = 600;
const HEIGHT = 120;
const MARK: Record<string, string> = {
  completed: "bg-green-500",
  failed: "bg-red-500",
  cancelled: "bg-zinc-400",
  running: "bg-sky-500",
};

export function RunHistory({ applicationId, name }: { applicationId: string; name: string }) {
  const [range, setRange] = useState<Range>("7d");
  const history = useQuery({
    queryKey: ["run-history", applicationId, name, range],
    queryFn: () =>
      call(() =>
        api.GET("/api/insights/runs", { params: { query: { application: applicationId, name, range } } }),
      ),
  });
  return (
    <Card>
      <div className="mb-3 flex items-center justify-between gap-2">
        <h2 className="text-sm font-semibold text-slate-600 dark:text-slate-300">Run history</h2>
        <WindowPicker options={RANGES} value={range} onChange={setRange} label="run history range" />
      </div>
      <Loaded query={history} what="the run history">
        {(found) =>
          found.completed + found.failed + found.cancelled === 0 && !found.latest.length ? (
            <Empty>No run of {name} yet.</Empty>
          ) : (
            <div className="space-y-4 text-sm">
              <Figures history={found} />
              <div className="grid gap-4 lg:grid-cols-2">
                <RunTimes history={found} />
                <Outcomes history={found} />
              </div>
              <Latest history={found} />
              <StageTimes history={found} />
            </div>
          )
        }
      </Loaded>
    </Card>
  );
}

function Figures({ history }: { history: History }) {
  const runs = history.completed + history.failed + history.cancelled;
  const figures: Array<[string, string]> = [
    ["runs finished", String(runs)],
    ["success rate", percent(history.successRate)],
    ["run time p50", duration(history.p50Seconds)],
    ["run time p95", duration(history.p95Seconds)],
  ];
  return (
    <dl className="flex flex-wrap gap-6" aria-label="run figures">
      {figures.map(([label, value]) => (
        <div key={label}>
          <dt className="text-xs text-muted">{label}</dt>
          <dd className="text-lg font-semibold tabular-nums">{value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** Every bucket of the range, those with no run (left out by the API) as null. */
function buckets(history: History): Array<Schemas["RunBucketView"] | null> {
  return bucketSlots(history.series, history.start, history.end, history.bucketSeconds).map(
    ([, bucket]) => bucket ?? null,
  );
}

function RunTimes({ history }: { history: History }) {
  const all = buckets(history);
  // Scaled to the slowest p95 shown, however short: runs of milliseconds are drawn too.
  const highest = Math.max(0, ...all.map((b) => b?.p95Seconds ?? 0)) || 1;
  const x = (i: number) => ((i + 0.5) / all.length) * WIDTH;
  const y = (seconds: number) => HEIGHT - (seconds / highest) * (HEIGHT - 6) - 1;
  const line = (pick: (b: Schemas["RunBucketView"]) => number | null | undefined) =>
    all
      .map((b, i) => (b && pick(b) != null ? `${x(i)},${y(pick(b)!)}` : null))
      .filter(Boolean)
      .join(" ");
  return (
    <figure>
      <figcaption className="mb-1 text-xs text-muted">
        Run time per {history.bucketSeconds === 3600 ? "hour" : "day"}: p50{" "}
        <span className="inline-block h-0.5 w-4 bg-sky-500 align-middle" aria-hidden /> and p95{" "}
        <span className="inline-block h-0.5 w-4 bg-amber-500 align-middle" aria-hidden /> · top{" "}
        {duration(highest)}
      </figcaption>
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        preserveAspectRatio="none"
        className="h-28 w-full"
        role="img"
        aria-label={`run time p50 ${duration(history.p50Seconds)} and p95 ${duration(history.p95Seconds)} over the range`}
      >
        <line
          x1={0}
          x2={WIDTH}
          y1={HEIGHT - 0.5}
          y2={HEIGHT - 0.5}
          className="stroke-slate-300 dark:stroke-slate-700"
        />
        <polyline
          points={line((b) => b.p95Seconds)}
          fill="none"
          className="stroke-amber-500"
          strokeWidth={2}
        />
        <polyline points={line((b) => b.p50Seconds)} fill="none" className="stroke-sky-500" strokeWidth={2} />
        {/* A dot for each, so that a single bucket (a first day) still shows both. */}
        {all.map((b, i) =>
          b?.p50Seconds != null ? (
            <g key={i}>
              <title>{`${dateTime(b.at)}: p50 ${duration(b.p50Seconds)}, p95 ${duration(b.p95Seconds)}`}</title>
              {b.p95Seconds != null && (
                <circle cx={x(i)} cy={y(b.p95Seconds)} r={2.5} className="fill-amber-500" />
              )}
              <circle cx={x(i)} cy={y(b.p50Seconds)} r={2.5} className="fill-sky-500" />
            </g>
          ) : null,
        )}
      </svg>
    </figure>
  );
}

function Outcomes({ history }: { history: History }) {
  const all = buckets(history);
  const highest = Math.max(1, ...all.map((b) => (b ? b.completed + b.failed + b.cancelled : 0)));
  const width = WIDTH / Math.max(1, all.length);
  const h = (n: number) => (n / highest) * (HEIGHT - 4);
  return (
    <figure>
      <figcaption className="mb-1 text-xs text-muted">
        Runs per {history.bucketSeconds === 3600 ? "hour" : "day"}:{" "}
        <span className="inline-block size-2 bg-green-500" aria-hidden /> completed{" "}
        <span className="inline-block size-2 bg-red-500" aria-hidden /> failed{" "}
        <span className="inline-block size-2 bg-zinc-400" aria-hidden /> cancelled · top {highest}
      </figcaption>
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        preserveAspectRatio="none"
        className="h-28 w-full"
        role="img"
        aria-label={`${history.completed} runs completed, ${history.failed} failed, ${history.cancelled} cancelled over the range`}
      >
        <line
          x1={0}
          x2={WIDTH}
          y1={HEIGHT - 0.5}
          y2={HEIGHT - 0.5}
          className="stroke-slate-300 dark:stroke-slate-700"
        />
        {all.map((b, i) => {
          if (!b) return null;
          let top = HEIGHT;
          return (
            <g key={i}>
              <title>{`${dateTime(b.at)}: ${b.completed} completed, ${b.failed} failed, ${b.cancelled} cancelled`}</title>
              {(
                [
                  [b.completed, "fill-green-500"],
                  [b.failed, "fill-red-500"],
                  [b.cancelled, "fill-zinc-400"],
                ] as const
              ).map(([n, colour]) => {
                top -= h(n);
                return (
                  <rect
                    key={colour}
                    x={i * width + 0.5}
                    width={Math.max(0.5, width - 1)}
                    y={top}
                    height={h(n)}
                    className={colour}
                  />
                );
              })}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

function Latest({ history }: { history: History }) {
  if (!history.latest.length) return null;
  return (
    <div>
      <h3 className="mb-1 text-xs text-muted">The latest {history.latest.length} runs, oldest left</h3>
      <ol aria-label="latest runs" className="flex flex-wrap gap-1">
        {[...history.latest].reverse().map((run) => (
          <li key={run.id}>
            <Link
              to={`/pipelines/${run.id}`}
              data-run-status={run.status}
              title={`${dateTime(run.createdAt)}: ${run.status}, ${duration(run.seconds)}`}
              aria-label={`${run.status} run of ${dateTime(run.createdAt)}, ${duration(run.seconds)}`}
              className={`block size-3.5 rounded-sm ${MARK[run.status] ?? "bg-slate-400"}`}
            />
          </li>
        ))}
      </ol>
    </div>
  );
}

function StageTimes({ history }: { history: History }) {
  if (!history.stages.length) return null;
  return (
    <div>
      <h3 className="mb-1 text-xs text-muted">Each stage over the latest {history.latest.length} runs</h3>
      <Table columns={["Stage", "Handler", "Attempts", "Failed", "p50", "p95"]} minWidth="32rem">
        <tbody>
          {history.stages.map((stage) => (
            <tr
              key={`${stage.name} ${stage.handler}`}
              className="border-b border-slate-100 dark:border-slate-800"
            >
              <td className="py-1.5">{stage.name}</td>
              <td className="font-mono text-xs">{stage.handler}</td>
              <td className="tabular-nums">{stage.attempts}</td>
              <td className="tabular-nums">{stage.failed}</td>
              <td className="tabular-nums">{duration(stage.p50Seconds)}</td>
              <td className="tabular-nums">{duration(stage.p95Seconds)}</td>
            </tr>
          ))}
        </tbody>
      </Table>
    </div>
  );
}
