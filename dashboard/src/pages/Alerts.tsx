// Alerts: what fired, newest first, filtered by status, severity and application (in the URL);
// acknowledged or resolved with an optional note by anyone. The Rules and Channels tabs hold
// what is alerted on and where it is sent, which admins and developers manage.
import { keepPreviousData, useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { Tabs } from "radix-ui";
import { useState } from "react";
import { Link, useSearchParams } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { ApplicationSelect } from "../components/ApplicationSelect";
import {
  buttonClass,
  Empty,
  ErrorText,
  inputClass,
  Loaded,
  Modal,
  OlderButton,
  PageHeader,
  TAB,
  Table,
} from "../components/ui";
import { count } from "../format";
import { SeverityBadge, StatusBadge, Time } from "../status";
import { AlertChannels } from "./AlertChannels";
import { AlertRules } from "./AlertRules";
import { Sentence } from "../components/Sentence";

type Alert = Schemas["AlertView"];
type StatusFilter = "open" | "firing" | "acknowledged" | "resolved";

const STATUSES: StatusFilter[] = ["open", "firing", "acknowledged", "resolved"];
export const SEVERITIES = ["info", "warning", "critical"] as const;
const PAGE = 50;

export function Alerts() {
  const [params, setParams] = useSearchParams();
  const tab = params.get("tab") ?? "alerts";
  return (
    <section>
      <PageHeader title="Alerts" />
      <Tabs.Root
        value={tab}
        onValueChange={(value) => setParams(value === "alerts" ? {} : { tab: value }, { replace: true })}
      >
        <Tabs.List
          aria-label="alert views"
          className="mb-3 flex border-b border-slate-200 dark:border-slate-800"
        >
          <Tabs.Trigger value="alerts" className={TAB}>
            Alerts
          </Tabs.Trigger>
          <Tabs.Trigger value="rules" className={TAB}>
            Rules
          </Tabs.Trigger>
          <Tabs.Trigger value="channels" className={TAB}>
            Channels
          </Tabs.Trigger>
        </Tabs.List>
        <Tabs.Content value="alerts">
          <AlertList />
        </Tabs.Content>
        <Tabs.Content value="rules">
          <AlertRules />
        </Tabs.Content>
        <Tabs.Content value="channels">
          <AlertChannels />
        </Tabs.Content>
      </Tabs.Root>
    </section>
  );
}

function AlertList() {
  const [params, setParams] = useSearchParams();
  // Open ones unless asked otherwise; "any" shows them all.
  const chosen = params.get("status") ?? "open";
  const status = STATUSES.includes(chosen as StatusFilter) ? (chosen as StatusFilter) : undefined;
  const severity = SEVERITIES.find((s) => s === params.get("severity"));
  const application = params.get("application") ?? "";
  const alerts = useInfiniteQuery({
    queryKey: ["alerts", "list", { status, severity, application }],
    queryFn: ({ pageParam }) =>
      call(() =>
        api.GET("/api/alerts", {
          params: {
            query: {
              status,
              severity,
              application: application || undefined,
              before: pageParam,
              limit: PAGE,
            },
          },
        }),
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (page) => page.nextBefore ?? undefined,
    placeholderData: keepPreviousData,
    // An open alert counts occurrences without an event saying so.
    refetchInterval: 30_000,
  });
  const change = (name: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  };
  return (
    <>
      <div role="group" aria-label="filters" className="mb-3 flex flex-wrap gap-3">
        <label className="text-sm">
          Status{" "}
          <select value={chosen} onChange={(e) => change("status", e.target.value)} className={inputClass}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s === "open" ? "open (firing or acknowledged)" : s}
              </option>
            ))}
            <option value="any">any</option>
          </select>
        </label>
        <label className="text-sm">
          Severity{" "}
          <select
            value={severity ?? ""}
            onChange={(e) => change("severity", e.target.value)}
            className={inputClass}
          >
            <option value="">any</option>
            {SEVERITIES.map((s) => (
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
      </div>
      <Loaded query={alerts} what="the alerts">
        {(data) => {
          const items = data.pages.flatMap((page) => page.items);
          if (items.length === 0)
            return (
              <Empty>
                {status === "open"
                  ? "No open alerts. The Rules tab says what opens one."
                  : "No alerts match these filters."}
              </Empty>
            );
          return (
            <>
              <Table
                columns={[
                  "Severity",
                  "Status",
                  "Rule",
                  "Subject",
                  "Summary",
                  { label: "Occurrences", className: "text-right" },
                  "Opened",
                  { label: "Actions", hidden: true },
                ]}
                minWidth="64rem"
                className="[&_td:not(:last-child)]:pr-3 [&_th:not(:last-child)]:pr-3"
              >
                <tbody>
                  {items.map((alert) => (
                    <tr
                      key={alert.id}
                      data-alert={alert.id}
                      data-rule={alert.ruleName}
                      className="border-b border-slate-100 align-top dark:border-slate-800"
                    >
                      <td className="py-2">
                        <SeverityBadge severity={alert.severity} />
                      </td>
                      <td className="py-2">
                        <StatusBadge status={alert.status} />
                      </td>
                      <td className="min-w-32 py-2">{alert.ruleName}</td>
                      <td className="py-2 whitespace-nowrap">
                        <span className="text-xs text-muted">{alert.subjectKind}</span>{" "}
                        <Link
                          to={`/alerts/${alert.id}`}
                          className="font-medium underline-offset-2 hover:underline"
                        >
                          {alert.subjectName}
                        </Link>
                      </td>
                      <td className="max-w-md py-2 break-words">
                        <Sentence text={alert.summary} />
                      </td>
                      <td className="py-2 text-right tabular-nums">{count(alert.occurrences)}</td>
                      <td className="py-2 text-xs whitespace-nowrap">
                        <Time at={alert.openedAt} />
                      </td>
                      <td className="space-x-2 py-2 text-right whitespace-nowrap">
                        <AlertActions alert={alert} small />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </Table>
              <OlderButton query={alerts} label="Older alerts" />
            </>
          );
        }}
      </Loaded>
    </>
  );
}

type Act = "acknowledge" | "resolve";

/** Acknowledge (a firing alert) and resolve (an open one), each with an optional note. */
export function AlertActions({ alert, small = false }: { alert: Alert; small?: boolean }) {
  const [acting, setActing] = useState<Act | null>(null);
  if (alert.status === "resolved") return null;
  return (
    <>
      {alert.status === "firing" && (
        <button className={buttonClass("primary", small)} onClick={() => setActing("acknowledge")}>
          Acknowledge
        </button>
      )}
      <button className={buttonClass("default", small)} onClick={() => setActing("resolve")}>
        Resolve
      </button>
      {acting && <NoteDialog alert={alert} act={acting} onClose={() => setActing(null)} />}
    </>
  );
}

function NoteDialog({ alert, act, onClose }: { alert: Alert; act: Act; onClose: () => void }) {
  const client = useQueryClient();
  const [note, setNote] = useState("");
  const done = useMutation({
    mutationFn: () =>
      call(() =>
        api.POST(
          act === "acknowledge" ? "/api/alerts/{alert_id}/acknowledge" : "/api/alerts/{alert_id}/resolve",
          {
            params: { path: { alert_id: alert.id } },
            body: { note: note.trim() || null },
          },
        ),
      ),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["alerts"] });
      void client.invalidateQueries({ queryKey: ["alert", alert.id] });
      onClose();
    },
  });
  const verb = act === "acknowledge" ? "Acknowledge" : "Resolve";
  return (
    <Modal open onOpenChange={(open) => !open && onClose()} title={`${verb} this alert?`}>
      <p className="mb-2 text-sm font-medium">
        {alert.ruleName}: {alert.subjectName}
      </p>
      <p className="mb-3 text-sm break-words">
        <Sentence text={alert.summary} />
      </p>
      <p className="mb-3 text-sm text-muted">
        {act === "acknowledge"
          ? "Says someone is on it: it stops counting as firing, and stays open until resolved."
          : "Closes it now, whether or not the condition cleared; the channels are told. Should it happen again, a new alert opens."}
      </p>
      <label className="mb-3 block text-sm">
        Note (optional, kept in its history)
        <textarea
          className={`${inputClass} mt-1 block w-full`}
          rows={3}
          maxLength={1000}
          value={note}
          onChange={(event) => setNote(event.target.value)}
        />
      </label>
      <ErrorText error={done.error} className="mb-3" />
      <div className="flex justify-end gap-2">
        <button className={buttonClass()} onClick={onClose}>
          Cancel
        </button>
        <button className={buttonClass("primary")} disabled={done.isPending} onClick={() => done.mutate()}>
          {verb}
        </button>
      </div>
    </Modal>
  );
}
