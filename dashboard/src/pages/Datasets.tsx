// The dataset catalog: every dataset version the application's jobs wrote, the latest of each
// dataset first. Filters live in the URL, as on the Pipelines page.
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useSearchParams } from "react-router";

import { api, call } from "../api/client";
import { ApplicationSelect } from "../components/ApplicationSelect";
import {
  buttonClass,
  Empty,
  ErrorNote,
  inputClass,
  Loading,
  PageHeader,
  PageNav,
  Table,
} from "../components/ui";
import { bytes, count } from "../format";
import { may } from "../permissions";
import { useMe } from "../session";
import { Time } from "../status";
import { Connections } from "./Connections";
import { DatasetUpload } from "./DatasetUpload";

export const LAYERS = ["bronze", "silver", "gold", "quarantine"] as const;
type LayerFilter = (typeof LAYERS)[number] | "none";
const PAGE = 50;

const LAYER_COLOURS: Record<string, string> = {
  bronze: "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200",
  silver: "bg-slate-200 text-slate-800 dark:bg-slate-700 dark:text-slate-100",
  gold: "bg-yellow-100 text-yellow-900 dark:bg-yellow-900 dark:text-yellow-100",
  quarantine: "bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-200",
};

export function LayerBadge({ layer }: { layer: string | null | undefined }) {
  if (!layer) return <span className="text-muted">—</span>;
  return (
    <span
      data-layer={layer}
      className={`inline-block rounded px-2 py-0.5 text-xs font-medium ${LAYER_COLOURS[layer]}`}
    >
      {layer}
    </span>
  );
}

export function Datasets() {
  const role = useMe().data?.role;
  const [uploading, setUploading] = useState(false);
  const [params, setParams] = useSearchParams();
  const layer = (params.get("layer") ?? "") as LayerFilter | "";
  const search = params.get("search") ?? "";
  const application = params.get("application") ?? "";
  const offset = Number(params.get("offset") ?? 0);
  const page = useQuery({
    queryKey: ["datasets", { layer, search, application, offset }],
    queryFn: () =>
      call(() =>
        api.GET("/api/datasets", {
          params: {
            query: {
              layer: layer || undefined,
              search: search || undefined,
              application: application || undefined,
              limit: PAGE,
              offset,
            },
          },
        }),
      ),
    placeholderData: keepPreviousData,
  });
  const change = (name: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    next.delete("offset");
    setParams(next);
  };
  return (
    <section>
      <PageHeader title="Datasets">
        {may(role, "upload_data") && (
          <button className={buttonClass("primary")} onClick={() => setUploading(true)}>
            Upload a file
          </button>
        )}
        <label className="text-sm">
          Layer{" "}
          <select value={layer} onChange={(e) => change("layer", e.target.value)} className={inputClass}>
            <option value="">any</option>
            {LAYERS.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
            <option value="none">none</option>
          </select>
        </label>
        <label className="text-sm">
          Application{" "}
          <ApplicationSelect
            value={application}
            onChange={(id) => change("application", id)}
            anyLabel="any"
          />
        </label>
        <label className="text-sm">
          Search{" "}
          <input
            type="search"
            defaultValue={search}
            placeholder="name or URI"
            onKeyDown={(e) => {
              if (e.key === "Enter") change("search", e.currentTarget.value);
            }}
            className={inputClass}
          />
        </label>
      </PageHeader>
      <DatasetUpload open={uploading} onOpenChange={setUploading} />
      {page.isError && <ErrorNote what="datasets" error={page.error} />}
      <Table
        columns={[
          "Dataset",
          "Layer",
          { label: "Rows", className: "text-right" },
          { label: "Size", className: "text-right" },
          { label: "Versions", className: "text-right" },
          { label: "Last written", className: "pl-4" },
          "Writer",
          "Application",
        ]}
        minWidth="56rem"
      >
        <tbody>
          {page.data?.items.map((d) => (
            <tr key={d.id} data-dataset={d.name} className="border-b border-slate-100 dark:border-slate-800">
              <td className="py-2 font-medium">
                <Link to={`/datasets/${d.id}`} title={d.uri} className="underline-offset-2 hover:underline">
                  {d.name}
                </Link>
              </td>
              <td>
                <LayerBadge layer={d.layer} />
              </td>
              <td className="text-right tabular-nums">{count(d.rows)}</td>
              <td className="text-right tabular-nums">{bytes(d.bytes)}</td>
              <td className="text-right tabular-nums">{d.versions}</td>
              <td className="pl-4">
                <Time at={d.lastWrittenAt} />
              </td>
              <td>
                {d.pipelineId ? (
                  <Link to={`/pipelines/${d.pipelineId}`} className="hover:underline">
                    {d.pipelineName} · {d.stageName}
                  </Link>
                ) : (
                  <span className="text-muted">
                    {d.pipelineName ? `${d.pipelineName} · ${d.stageName}` : "—"}
                  </span>
                )}
              </td>
              <td>{d.applicationName}</td>
            </tr>
          ))}
        </tbody>
      </Table>
      {page.isPending && <Loading rows={8} label="Loading datasets" />}
      {page.data && page.data.items.length === 0 && (
        <Empty>
          {params.size
            ? "No datasets match these filters."
            : "No datasets yet. The dataset templates register each version they write (docs/datasets.md)."}
        </Empty>
      )}
      <PageNav
        offset={offset}
        size={PAGE}
        hasMore={page.data?.hasMore}
        onOffset={(to) => {
          // change() starts the filters over at the first page; paging keeps them.
          const next = new URLSearchParams(params);
          if (to) next.set("offset", String(to));
          else next.delete("offset");
          setParams(next);
        }}
      />
      <Connections />
    </section>
  );
}
