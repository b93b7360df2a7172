// One dataset: its columns, versions over time, lineage across pipelines, and a sample and a
// profile of a version, which a dataset worker computes the first time they are asked for.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useParams } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { computed, Pending, show, useComputed } from "../components/Computed";
import { DatasetLineageGraph } from "../components/DatasetLineageGraph";
import { Card, Empty, ErrorNote, inputClass, Loaded, Loading, PageHeader, Table } from "../components/ui";
import { bytes, count } from "../format";
import { Time } from "../status";
import { may } from "../permissions";
import { useMe } from "../session";
import { LayerBadge } from "./Datasets";
import { QuarantineReview } from "./QuarantineReview";

export function DatasetDetail() {
  const { id = "" } = useParams();
  const dataset = useQuery({
    queryKey: ["dataset", id],
    queryFn: () =>
      call(() => api.GET("/api/datasets/{dataset_id}", { params: { path: { dataset_id: id } } })),
  });
  const [chosen, setChosen] = useState<number | undefined>(undefined);
  const role = useMe().data?.role;
  return (
    <Loaded query={dataset} what="the dataset">
      {(d) => {
        const version = chosen ?? d.versions[0]?.version;
        return (
          <section className="space-y-4">
            <PageHeader title={d.name}>
              <LayerBadge layer={d.layer} />
              <label className="text-sm">
                Version{" "}
                <select
                  value={version}
                  onChange={(e) => setChosen(Number(e.target.value))}
                  className={inputClass}
                  aria-label="version"
                >
                  {d.versions
                    .filter((v) => !v.removedAt)
                    .map((v) => (
                      <option key={v.version} value={v.version}>
                        v{v.version} · {count(v.rows)} rows
                      </option>
                    ))}
                </select>
              </label>
            </PageHeader>
            <p className="text-sm text-muted">
              <span className="font-mono">{d.uri}</span> · {d.applicationName} · last written{" "}
              <Time at={d.lastWrittenAt} />
            </p>
            <div className="grid gap-4 lg:grid-cols-2">
              <Card title="Schema">
                <Table columns={["Column", "Type"]}>
                  <tbody>
                    {(d.versions.find((v) => v.version === version) ?? d.versions[0])?.schema.map((c) => (
                      <tr key={c.name} className="border-b border-slate-100 dark:border-slate-800">
                        <td className="py-1 font-mono">{c.name}</td>
                        <td className="font-mono text-muted">{c.type}</td>
                      </tr>
                    ))}
                  </tbody>
                </Table>
              </Card>
              <Card title="Versions">
                <RowsOverTime versions={d.versions} />
                <Versions versions={d.versions} />
              </Card>
            </div>
            <Card title="Lineage across pipelines">
              {d.upstream.length || d.downstream.length ? (
                <DatasetLineageGraph dataset={d} />
              ) : (
                <Empty>No dataset in the catalog was read to write this one, nor written from it.</Empty>
              )}
            </Card>
            {version !== undefined && d.layer === "quarantine" && (
              <QuarantineReview
                datasetId={d.id}
                version={version}
                mayDecide={may(role, "review_quarantine")}
              />
            )}
            {version !== undefined && <Sample datasetId={d.id} version={version} />}
            {version !== undefined && <Profile datasetId={d.id} version={version} />}
          </section>
        );
      }}
    </Loaded>
  );
}

function Versions({ versions }: { versions: Schemas["DatasetVersionView"][] }) {
  return (
    <Table
      columns={[
        "Version",
        { label: "Rows", className: "text-right" },
        { label: "Size", className: "text-right" },
        { label: "Written", className: "pl-4" },
        "By",
      ]}
    >
      <tbody>
        {versions.map((v) => (
          <tr
            key={v.version}
            data-version={v.version}
            className="border-b border-slate-100 dark:border-slate-800"
          >
            <td className="py-1">v{v.version}</td>
            <td className="text-right tabular-nums">{count(v.rows)}</td>
            <td className="text-right tabular-nums">{bytes(v.bytes)}</td>
            <td className="pl-4">
              <Time at={v.writtenAt} />
              {v.removedAt && (
                <span className="ml-2 text-xs text-muted" title={`removed ${v.removedAt}`}>
                  removed by retention
                </span>
              )}
            </td>
            <td>
              {v.pipelineId ? (
                <Link to={`/pipelines/${v.pipelineId}`} className="hover:underline">
                  {v.pipelineName} · {v.stageName}
                </Link>
              ) : (
                (v.pipelineName ?? "—")
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

/** Row counts of the versions, oldest to newest, as bars. */
export function RowsOverTime({ versions }: { versions: Schemas["DatasetVersionView"][] }) {
  const ordered = [...versions].reverse();
  const highest = Math.max(1, ...ordered.map((v) => v.rows));
  const width = Math.max(1, ordered.length) * 14;
  return (
    <svg width={width} height={48} role="img" aria-label="rows per version, oldest first" className="mb-2">
      {ordered.map((v, i) => {
        const height = Math.max(1, (v.rows / highest) * 44);
        return (
          <rect
            key={v.version}
            x={i * 14}
            y={48 - height}
            width={10}
            height={height}
            className="fill-indigo-400"
          >
            <title>
              v{v.version}: {count(v.rows)} rows
            </title>
          </rect>
        );
      })}
    </svg>
  );
}

function Sample({ datasetId, version }: { datasetId: string; version: number }) {
  const sample = useComputed<Schemas["DatasetSample"]>("sample", datasetId, version, () =>
    computed(() =>
      api.GET("/api/datasets/{dataset_id}/sample", {
        params: { path: { dataset_id: datasetId }, query: { version, limit: 50, wait: 5 } },
      }),
    ),
  );
  return (
    <Card title="Sample">
      {sample.isError ? (
        <ErrorNote what="the sample" error={sample.error} />
      ) : !sample.data ? (
        <Loading rows={3} label="Loading the sample" />
      ) : "pending" in sample.data ? (
        <Pending what="sample" pending={sample.data.pending} />
      ) : (
        <div className="max-h-[28rem] overflow-y-auto" tabIndex={0} role="region" aria-label="sample table">
          <Table
            columns={sample.data.columns.map((c) => c.name)}
            minWidth="40rem"
            className="font-mono text-xs"
          >
            <tbody aria-label="sample rows">
              {sample.data.rows.map((row, i) => (
                <tr key={i} className="border-b border-slate-100 dark:border-slate-800">
                  {(sample.data as Schemas["DatasetSample"]).columns.map((c) => (
                    <td key={c.name} className="py-1 pr-3 whitespace-nowrap">
                      {show(row[c.name])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </Table>
        </div>
      )}
    </Card>
  );
}

function Profile({ datasetId, version }: { datasetId: string; version: number }) {
  const profile = useComputed<Schemas["DatasetProfile"]>("profile", datasetId, version, () =>
    computed(() =>
      api.GET("/api/datasets/{dataset_id}/profile", {
        params: { path: { dataset_id: datasetId }, query: { version, wait: 5 } },
      }),
    ),
  );
  return (
    <Card title="Profile">
      {profile.isError ? (
        <ErrorNote what="the profile" error={profile.error} />
      ) : !profile.data ? (
        <Loading rows={3} label="Loading the profile" />
      ) : "pending" in profile.data ? (
        <Pending what="profile" pending={profile.data.pending} />
      ) : (
        <div className="grid gap-3 md:grid-cols-2 xl:grid-cols-3">
          {profile.data.columns.map((c) => (
            <ColumnCard key={c.name} column={c} rows={(profile.data as Schemas["DatasetProfile"]).rows} />
          ))}
        </div>
      )}
    </Card>
  );
}

function ColumnCard({ column, rows }: { column: Schemas["ColumnProfile"]; rows: number }) {
  const histogram = column.histogram ?? [];
  const top = column.top ?? [];
  const facts: Array<[string, string]> = [
    ["nulls", `${count(column.nulls)}${rows ? ` (${((100 * column.nulls) / rows).toFixed(1)}%)` : ""}`],
    ["distinct ≈", column.distinct != null ? count(column.distinct) : "—"],
    ["min", show(column.min)],
    ["max", show(column.max)],
  ];
  if (column.mean != null) facts.push(["mean", column.mean.toPrecision(6)]);
  if (column.stddev != null) facts.push(["stddev", column.stddev.toPrecision(6)]);
  return (
    <section
      data-column={column.name}
      className="rounded border border-slate-200 p-3 text-sm dark:border-slate-800"
    >
      <h3 className="font-mono font-medium">
        {column.name} <span className="text-xs text-muted">{column.type}</span>
      </h3>
      <dl className="mt-1 grid grid-cols-2 gap-x-2 text-xs">
        {facts.map(([label, value]) => (
          <div key={label} className="contents">
            <dt className="text-muted">{label}</dt>
            <dd className="truncate tabular-nums" title={value}>
              {value}
            </dd>
          </div>
        ))}
      </dl>
      {histogram.length > 0 && <Histogram bins={histogram} name={column.name} />}
      {top.length > 0 && (
        <ol className="mt-2 text-xs" aria-label={`most frequent values of ${column.name}`}>
          {top.slice(0, 5).map((t, i) => (
            <li key={i} className="flex justify-between gap-2">
              <span className="truncate font-mono">{show(t.value)}</span>
              <span className="tabular-nums text-muted">{count(t.count)}</span>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function Histogram({ bins, name }: { bins: Schemas["HistogramBin"][]; name: string }) {
  const highest = Math.max(1, ...bins.map((b) => b.count));
  const bar = 200 / bins.length;
  return (
    <svg
      width={200}
      height={50}
      role="img"
      aria-label={`histogram of ${name}`}
      className="mt-2"
      data-histogram={name}
    >
      {bins.map((b, i) => {
        const height = Math.max(b.count ? 1 : 0, (b.count / highest) * 48);
        return (
          <rect
            key={i}
            x={i * bar}
            y={50 - height}
            width={Math.max(1, bar - 1)}
            height={height}
            className="fill-sky-500"
          >
            <title>
              {show(b.lower)} – {show(b.upper)}: {count(b.count)}
            </title>
          </rect>
        );
      })}
    </svg>
  );
}
