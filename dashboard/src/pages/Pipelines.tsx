// The pipelines table. Its filters live in the URL, so a filtered view can be shared and the
// back button works; the live updates keep it fresh.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link, useSearchParams } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { ApplicationSelect } from "../components/ApplicationSelect";
import {
  ConfirmButton,
  Empty,
  ErrorNote,
  inputClass,
  Loading,
  PageHeader,
  PageNav,
  Table,
} from "../components/ui";
import { RANGES } from "../queries";
import { StatusBadge, Time } from "../status";

const STATUSES = ["running", "completed", "failed", "cancelled"] as const;
type Status = (typeof STATUSES)[number];
const PAGE = 50;

type BulkAction = Schemas["BulkRequest"]["action"];
const BULK: Array<[BulkAction, string]> = [
  ["rerun", "Rerun failed"],
  ["skip", "Skip failed"],
  ["cancel", "Cancel"],
];

export function Pipelines() {
  const [params, setParams] = useSearchParams();
  const client = useQueryClient();
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [outcome, setOutcome] = useState<string | null>(null);
  const bulk = useMutation({
    mutationFn: (action: BulkAction) =>
      call(() => api.POST("/api/pipelines/bulk", { body: { action, pipelineIds: [...selected] } })),
    onSuccess: (answer) => {
      const refused = answer.results.filter((r) => !r.ok);
      setOutcome(
        `${answer.results.length - refused.length} done` +
          (refused.length ? `; ${refused.length} refused (${refused.map((r) => r.code).join(", ")})` : ""),
      );
      setSelected(new Set());
      void client.invalidateQueries({ queryKey: ["pipelines"] });
    },
  });
  const toggle = (id: string) =>
    setSelected((current) => {
      const next = new Set(current);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  const status = params.get("status") as Status | null;
  const search = params.get("search") ?? "";
  const application = params.get("application") ?? "";
  const created = params.get("created") ?? "";
  const offset = Number(params.get("offset") ?? 0);
  const page = useQuery({
    queryKey: ["pipelines", { status, search, application, created, offset }],
    queryFn: () => {
      // "Created in the last …" counts back from when the query runs.
      const within = RANGES[created as keyof typeof RANGES] as number | undefined;
      return call(() =>
        api.GET("/api/pipelines", {
          params: {
            query: {
              status: status ? [status] : undefined,
              search: search || undefined,
              application: application || undefined,
              createdFrom: within ? new Date(Date.now() - within * 1000).toISOString() : undefined,
              limit: PAGE,
              offset,
            },
          },
        }),
      );
    },
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
      <PageHeader title="Pipelines">
        <label className="text-sm">
          Status{" "}
          <select
            value={status ?? ""}
            onChange={(e) => change("status", e.target.value)}
            className={inputClass}
          >
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
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
          Created{" "}
          <select value={created} onChange={(e) => change("created", e.target.value)} className={inputClass}>
            <option value="">any time</option>
            {Object.keys(RANGES).map((range) => (
              <option key={range} value={range}>
                in the last {range}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          Search{" "}
          <input
            type="search"
            defaultValue={search}
            placeholder="name, keyword or id"
            onKeyDown={(e) => {
              if (e.key === "Enter") change("search", e.currentTarget.value);
            }}
            className={inputClass}
          />
        </label>
      </PageHeader>
      {page.isError && <ErrorNote what="pipelines" error={page.error} />}
      <div className="mb-2 flex items-center gap-2 text-sm" aria-label="bulk actions">
        <span className="text-muted">{selected.size} selected</span>
        {BULK.map(([action, label]) => (
          <ConfirmButton
            key={action}
            small
            kind={action === "cancel" ? "danger" : "default"}
            label={label}
            disabled={selected.size === 0 || bulk.isPending}
            title={`${label}: ${selected.size} pipeline${selected.size === 1 ? "" : "s"}?`}
            description="Each pipeline is acted on by itself; those the action does not fit are left as they are and counted."
            onConfirm={() => bulk.mutate(action)}
          />
        ))}
        {outcome && <span role="status">{outcome}</span>}
      </div>
      <Table
        columns={[{ label: "Select", hidden: true }, "Name", "Application", "Status", "Stages", "Created"]}
        minWidth="48rem"
      >
        <tbody>
          {page.data?.items.map((p) => (
            <tr key={p.id} className="border-b border-slate-100 dark:border-slate-800">
              <td>
                <input
                  type="checkbox"
                  aria-label={`select ${p.name}`}
                  checked={selected.has(p.id)}
                  onChange={() => toggle(p.id)}
                />
              </td>
              <td className="py-2">
                <Link to={`/pipelines/${p.id}`} className="underline-offset-2 hover:underline">
                  {p.name}
                </Link>
              </td>
              <td>{p.applicationName}</td>
              <td>
                <StatusBadge status={p.status} />
              </td>
              <td className="space-x-1">
                {Object.entries(p.stageCounts).map(([s, n]) => (
                  <span key={s} title={s}>
                    <StatusBadge status={s} /> {n}
                  </span>
                ))}
              </td>
              <td>
                <Time at={p.createdAt} />
              </td>
            </tr>
          ))}
        </tbody>
      </Table>
      {page.isPending && <Loading rows={8} label="Loading pipelines" />}
      {page.data && page.data.items.length === 0 && (
        <Empty>
          {params.size
            ? "No pipelines match these filters."
            : "No pipelines yet. Submit one over the external API (README, Quick start)."}
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
    </section>
  );
}
