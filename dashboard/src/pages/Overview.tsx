// The first page: how things stand now and over the chosen range, and what just happened.
import { useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { Card, Empty, Loaded, PageHeader } from "../components/ui";
import { ThroughputChart } from "../components/ThroughputChart";
import { RangePicker } from "../components/RangePicker";
import { ago, count, duration, percent, rate, secondsBetween } from "../format";
import { useNow } from "../now";
import { rangeOf, useInsights, useWorkers } from "../queries";
import { StatusBadge } from "../status";

/** The headline figures of a range, from its insights and the workers now. */
export function kpis(insights: Schemas["InsightsView"], workers: Schemas["WorkerView"][]) {
  const completed = insights.stages.reduce((sum, s) => sum + s.completed, 0);
  const failed = insights.stages.reduce((sum, s) => sum + s.failed, 0);
  const minutes = secondsBetween(insights.start, insights.end) / 60;
  return {
    running: insights.pipelines.running,
    completed: insights.pipelines.completed,
    failed: insights.pipelines.failed,
    jobsPerMinute: minutes > 0 ? completed / minutes : 0,
    successRate: completed + failed > 0 ? completed / (completed + failed) : null,
    workersOnline: workers.filter((w) => w.state === "online").length,
  };
}

function Kpi({ label, value, tone }: { label: string; value: string; tone?: string }) {
  return (
    <div className="rounded-lg border border-slate-200 p-3 dark:border-slate-800">
      <dt className="text-xs text-muted">{label}</dt>
      <dd className={`mt-1 text-2xl font-semibold tabular-nums ${tone ?? ""}`}>{value}</dd>
    </div>
  );
}

export function Overview() {
  const [params, setParams] = useSearchParams();
  const range = rangeOf(params.get("range"));
  const insights = useInsights(range);
  const workers = useWorkers();
  const now = useNow(1000);
  // The feed: pipelines by their latest change; every pipeline or stage event refreshes it.
  const recent = useQuery({
    queryKey: ["pipelines", { sort: "-updatedAt", limit: 15 }],
    queryFn: () =>
      call(() => api.GET("/api/pipelines", { params: { query: { sort: "-updatedAt", limit: 15 } } })),
  });
  const figures = insights.data && workers.data ? kpis(insights.data, workers.data.items) : null;
  const dash = "—";
  return (
    <div className="space-y-4">
      <PageHeader title="Overview">
        <RangePicker value={range} onChange={(value) => setParams({ range: value })} />
      </PageHeader>
      <dl className="grid grid-cols-2 gap-3 sm:grid-cols-3 xl:grid-cols-6" aria-label="key figures">
        <Kpi label="Pipelines running" value={figures ? count(figures.running) : dash} />
        <Kpi label={`Completed in ${range}`} value={figures ? count(figures.completed) : dash} />
        <Kpi
          label={`Failed in ${range}`}
          value={figures ? count(figures.failed) : dash}
          tone={figures?.failed ? "text-red-700 dark:text-red-300" : ""}
        />
        <Kpi label="Stage jobs per minute" value={figures ? rate(figures.jobsPerMinute) : dash} />
        <Kpi label="Success rate" value={figures ? percent(figures.successRate) : dash} />
        <Kpi label="Workers online" value={figures ? count(figures.workersOnline) : dash} />
      </dl>
      <div className="grid gap-4 lg:grid-cols-3">
        <Card title="Throughput" className="lg:col-span-2">
          <Loaded query={insights} what="throughput" rows={4}>
            {(data) => <ThroughputChart insights={data} />}
          </Loaded>
        </Card>
        <Card title="Queue depth per handler">
          <Loaded query={insights} what="queues" rows={4}>
            {(data) => <Queues queues={data.queues} />}
          </Loaded>
        </Card>
      </div>
      <Card title="Activity">
        <Loaded query={recent} what="activity" rows={6}>
          {(page) =>
            page.items.length === 0 ? (
              <Empty>Nothing has run yet. Submit a pipeline and it shows up here as it moves.</Empty>
            ) : (
              <ol
                aria-label="recent activity"
                className="divide-y divide-slate-100 text-sm dark:divide-slate-800"
              >
                {page.items.map((p) => (
                  <li key={p.id} className="flex items-center gap-3 py-1.5">
                    <span className="w-20 shrink-0 text-xs text-muted tabular-nums">
                      {ago(p.updatedAt, now)}
                    </span>
                    <StatusBadge status={p.status} />
                    <Link to={`/pipelines/${p.id}`} className="truncate font-medium hover:underline">
                      {p.name}
                    </Link>
                    <span className="ml-auto hidden text-xs text-muted sm:inline">{p.applicationName}</span>
                  </li>
                ))}
              </ol>
            )
          }
        </Loaded>
      </Card>
    </div>
  );
}

function Queues({ queues }: { queues: Schemas["QueueView"][] }) {
  if (queues.length === 0) return <Empty>No job is waiting.</Empty>;
  const deepest = Math.max(...queues.map((q) => q.depth));
  return (
    <table className="w-full text-sm">
      <thead className="sr-only">
        <tr>
          <th>Handler</th>
          <th>Waiting</th>
          <th>Oldest</th>
        </tr>
      </thead>
      <tbody>
        {queues.map((q) => (
          <tr key={`${q.applicationId}/${q.handler}`} data-queue={q.handler}>
            <td className="py-1 pr-2">
              <div className="font-mono text-xs">{q.handler}</div>
              <div
                className="mt-0.5 h-1.5 rounded bg-sky-500"
                style={{ width: `${(100 * q.depth) / deepest}%` }}
                aria-hidden
              />
            </td>
            <td className="text-right tabular-nums">{count(q.depth)}</td>
            <td className="pl-2 text-right text-xs text-muted" title="age of the oldest waiting job">
              {duration(q.oldestAgeSeconds)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
