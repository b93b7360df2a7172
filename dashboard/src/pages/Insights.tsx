// How handlers and stages do over a chosen range: the slowest, the least reliable, the most
// retried, and the errors that come up most; above them, the stages that stand out lately
// against their own week (risk).
import { useSearchParams } from "react-router";

import type { Schemas } from "../api/client";
import { ApplicationSelect } from "../components/ApplicationSelect";
import { RangePicker, WindowPicker } from "../components/RangePicker";
import { RiskList } from "../components/Risks";
import { ThroughputChart } from "../components/ThroughputChart";
import { Card, Empty, Loaded, PageHeader, Table } from "../components/ui";
import { count, duration, percent, rate } from "../format";
import { RISK_WINDOWS, rangeOf, riskWindowOf, useInsights, useRisks } from "../queries";
import { Time } from "../status";

type Figures = Schemas["StageFiguresView"];
type Column = {
  key: string;
  label: string;
  value: (f: Figures) => number | null;
  show: (f: Figures) => string;
};

const COLUMNS: Column[] = [
  { key: "p95", label: "p95", value: (f) => f.p95Seconds, show: (f) => duration(f.p95Seconds) },
  { key: "p50", label: "p50", value: (f) => f.p50Seconds, show: (f) => duration(f.p50Seconds) },
  { key: "attempts", label: "Attempts", value: (f) => f.attempts, show: (f) => count(f.attempts) },
  {
    key: "throughput",
    label: "Per minute",
    value: (f) => f.throughputPerMinute,
    show: (f) => rate(f.throughputPerMinute),
  },
  { key: "success", label: "Success", value: (f) => f.successRate, show: (f) => percent(f.successRate) },
  { key: "retry", label: "Retried", value: (f) => f.retryRate, show: (f) => percent(f.retryRate) },
  {
    key: "failed",
    label: "Failed for good",
    value: (f) => f.failedForGood,
    show: (f) => count(f.failedForGood),
  },
  { key: "lost", label: "Leases lost", value: (f) => f.leaseLost, show: (f) => count(f.leaseLost) },
];

/** Stage figures by one column, largest first (success: smallest first); unknowns last. */
export function sortFigures(stages: Figures[], key: string): Figures[] {
  const column = COLUMNS.find((c) => c.key === key) ?? COLUMNS[0]!;
  const ascending = key === "success";
  return [...stages].sort((a, b) => {
    const [x, y] = [column.value(a), column.value(b)];
    if (x === null || y === null) return x === null ? (y === null ? 0 : 1) : -1;
    return ascending ? x - y : y - x;
  });
}

export function Insights() {
  const [params, setParams] = useSearchParams();
  const range = rangeOf(params.get("range"));
  const application = params.get("application") ?? undefined;
  const sort = params.get("sort") ?? "p95";
  const insights = useInsights(range, application);
  const riskWindow = riskWindowOf(params.get("riskWindow"));
  const risks = useRisks(riskWindow, { application });
  const set = (name: string, value: string | undefined) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  };
  return (
    <div className="space-y-4">
      <PageHeader title="Insights">
        <label className="text-sm">
          Application{" "}
          <ApplicationSelect
            value={application ?? ""}
            onChange={(id) => set("application", id)}
            anyLabel="all"
          />
        </label>
        <RangePicker value={range} onChange={(value) => set("range", value)} />
      </PageHeader>
      <Card>
        <div className="mb-3 flex flex-wrap items-center gap-3">
          <h2 className="mr-auto text-sm font-semibold text-slate-600 dark:text-slate-300">
            Risks <span className="font-normal text-muted">· lately against the week before</span>
          </h2>
          <WindowPicker
            options={RISK_WINDOWS}
            value={riskWindow}
            onChange={(value) => set("riskWindow", value)}
            label="risk window"
          />
        </div>
        <Loaded query={risks} what="risks" rows={3}>
          {(data) => <RiskList items={data.items} window={riskWindow} />}
        </Loaded>
      </Card>
      <Card title="Attempts ended">
        <Loaded query={insights} what="throughput" rows={4}>
          {(data) => <ThroughputChart insights={data} />}
        </Loaded>
      </Card>
      <Card title="Stages">
        <Loaded query={insights} what="stage figures">
          {(data) =>
            data.stages.length === 0 ? (
              <Empty>No attempt ended in the last {range}.</Empty>
            ) : (
              <Table
                minWidth="56rem"
                columns={[
                  "Stage",
                  "Handler",
                  ...COLUMNS.map((column) => {
                    const sorted = sort === column.key;
                    const ascending = column.key === "success";
                    return {
                      className: "text-right",
                      sort: sorted ? (ascending ? "ascending" : "descending") : "none",
                      label: (
                        <button
                          onClick={() => set("sort", column.key)}
                          className={sorted ? "font-semibold text-slate-900 dark:text-white" : ""}
                        >
                          {column.label}
                          {sorted ? (ascending ? " ↑" : " ↓") : ""}
                        </button>
                      ),
                    } as const;
                  }),
                ]}
              >
                <tbody>
                  {sortFigures(data.stages, sort).map((f) => (
                    <tr
                      key={`${f.applicationId}/${f.handler}/${f.stageName}`}
                      data-figures={f.stageName}
                      className="border-b border-slate-100 dark:border-slate-800"
                    >
                      <td className="py-1.5 font-medium">
                        {f.stageName}
                        <span className="ml-2 text-xs text-muted">{f.applicationName}</span>
                      </td>
                      <td className="font-mono text-xs">{f.handler}</td>
                      {COLUMNS.map((column) => (
                        <td key={column.key} className="text-right tabular-nums">
                          {column.show(f)}
                        </td>
                      ))}
                    </tr>
                  ))}
                </tbody>
              </Table>
            )
          }
        </Loaded>
      </Card>
      <Card title="Error hotspots">
        <Loaded query={insights} what="hotspots">
          {(data) =>
            data.hotspots.length === 0 ? (
              <Empty>No failures in the last {range}.</Empty>
            ) : (
              <Table
                columns={[
                  "Error",
                  "Stage",
                  { label: "Times", className: "text-right" },
                  { label: "Last seen", className: "pl-4" },
                ]}
              >
                <tbody>
                  {data.hotspots.map((h) => (
                    <tr
                      key={`${h.handler}/${h.stageName}/${h.code}/${h.message}`}
                      className="border-b border-slate-100 align-top dark:border-slate-800"
                    >
                      <td className="py-1.5">
                        <span className="font-mono text-xs text-red-700 dark:text-red-300">{h.code}</span>
                        <div className="text-slate-600 dark:text-slate-300">{h.message}</div>
                      </td>
                      <td>
                        {h.stageName} <span className="font-mono text-xs text-muted">{h.handler}</span>
                      </td>
                      <td className="text-right tabular-nums">{count(h.occurrences)}</td>
                      <td className="pl-4 text-xs">
                        <Time at={h.lastSeenAt} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            )
          }
        </Loaded>
      </Card>
    </div>
  );
}
