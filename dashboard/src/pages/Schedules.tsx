// Every schedule of the applications one sees: when it fires next, what its last fire did (and
// the run it started), pausing, resuming and running one now (anyone); changing one in place
// and deleting it (developers and admins). New schedules are made on a definition's page, where
// its versions are. The filters live in the URL, as on the pipelines table.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type KeyboardEvent, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { ApplicationSelect } from "../components/ApplicationSelect";
import { ScheduleForm, type ScheduleFields } from "../components/ScheduleForm";
import {
  buttonClass,
  Card,
  ConfirmButton,
  Empty,
  ErrorText,
  inputClass,
  Loaded,
  PageHeader,
  Table,
} from "../components/ui";
import { ago, dateTime, until } from "../format";
import { useNow } from "../now";
import { may } from "../permissions";
import { describeTiming, type ScheduleAction, useScheduleAction } from "../schedules";
import { useMe } from "../session";
import { StatusBadge } from "../status";

type Schedule = Schemas["ScheduleListItem"];
type Fire = Schemas["ScheduleLastFire"];
type Act = (schedule: Schedule, action: ScheduleAction) => void;

const STATUSES = ["active", "paused"] as const;
const COLUMNS = 7;

export function Schedules() {
  const [params, setParams] = useSearchParams();
  const application = params.get("application") ?? "";
  const status = STATUSES.find((s) => s === params.get("status"));
  const search = params.get("search") ?? "";
  const schedules = useQuery({
    queryKey: ["schedules", "all", { application, status, search }],
    queryFn: () =>
      call(() =>
        api.GET("/api/schedules", {
          params: { query: { application: application || undefined, status, search: search || undefined } },
        }),
      ),
    placeholderData: keepPreviousData,
    // Due times pass and fires happen without an event saying so.
    refetchInterval: 30_000,
  });
  // The search follows the typing: each letter replaces the address rather than adding to history.
  const change = (name: string, value: string, replace = false) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace });
  };
  const writer = may(useMe().data?.role, "write_definitions");
  const act = useScheduleAction();
  const now = useNow(30_000);
  return (
    <section>
      <PageHeader title="Schedules">
        <label className="text-sm">
          Application{" "}
          <ApplicationSelect
            value={application}
            onChange={(id) => change("application", id)}
            anyLabel="any"
          />
        </label>
        <label className="text-sm">
          Status{" "}
          <select
            value={status ?? ""}
            onChange={(e) => change("status", e.target.value)}
            className={inputClass}
          >
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          Search{" "}
          <input
            type="search"
            value={search}
            placeholder="schedule or definition"
            onChange={(e) => change("search", e.target.value, true)}
            className={inputClass}
          />
        </label>
      </PageHeader>
      <Card>
        <ErrorText error={act.error} className="mb-2" />
        <Loaded query={schedules} what="the schedules" rows={4}>
          {({ items }) =>
            items.length === 0 ? (
              <Empty>
                {params.size
                  ? "No schedules match these filters."
                  : "No schedules yet. A definition's page schedules runs of its published versions."}
              </Empty>
            ) : (
              <Table
                columns={[
                  "Schedule",
                  "Application",
                  "When",
                  "Status",
                  "Next fire",
                  "Last result",
                  { label: "Actions", hidden: true },
                ]}
                minWidth="64rem"
              >
                <tbody>
                  {items.map((schedule) => (
                    <ScheduleRow
                      key={schedule.id}
                      schedule={schedule}
                      writer={writer}
                      now={now}
                      onAct={(s, action) => act.mutate({ schedule: s, action })}
                    />
                  ))}
                </tbody>
              </Table>
            )
          }
        </Loaded>
      </Card>
    </section>
  );
}

function ScheduleRow({
  schedule,
  writer,
  now,
  onAct,
}: {
  schedule: Schedule;
  writer: boolean;
  now: number;
  onAct: Act;
}) {
  const [editing, setEditing] = useState(false);
  const editButton = useRef<HTMLButtonElement>(null);
  // Back on the button that opened the form, so the keyboard goes on from where it was.
  const closeEditor = () => {
    setEditing(false);
    editButton.current?.focus();
  };
  const small = buttonClass("default", true);
  const editorId = `edit-schedule-${schedule.id}`;
  return (
    <>
      <tr data-schedule={schedule.name} className="border-b border-slate-100 align-top dark:border-slate-800">
        <td className="py-2">
          <span className="block font-medium">{schedule.name}</span>
          <Link
            to={`/definitions/${schedule.definitionId}`}
            className="text-xs text-sky-700 underline-offset-2 hover:underline dark:text-sky-400"
          >
            {schedule.definition}
          </Link>
          <span className="text-xs text-muted">
            {" "}
            · {schedule.version !== null ? `v${schedule.version}` : "newest published"}
          </span>
        </td>
        <td className="py-2">{schedule.applicationName}</td>
        <td className="py-2 font-mono text-xs">{describeTiming(schedule)}</td>
        <td className="py-2">
          <StatusBadge status={schedule.status} />
        </td>
        <td className="py-2 text-xs">
          {schedule.nextFireAt ? (
            <time dateTime={schedule.nextFireAt} title={dateTime(schedule.nextFireAt)}>
              {dateTime(schedule.nextFireAt)}
              <span className="block text-muted">{until(schedule.nextFireAt, now)}</span>
            </time>
          ) : (
            <span className="text-muted">— while paused</span>
          )}
        </td>
        <td className="py-2 text-xs">
          <LastResult fire={schedule.lastFire} now={now} />
        </td>
        <td className="space-x-2 py-1.5 text-right whitespace-nowrap">
          <ConfirmButton
            small
            label="Run now"
            title={`Run ${schedule.name} now?`}
            description={`A run of ${schedule.definition} starts now, with the schedule's params. Its times stay as they are.`}
            onConfirm={() => onAct(schedule, "run")}
          />
          <button
            className={small}
            onClick={() => onAct(schedule, schedule.status === "active" ? "pause" : "resume")}
          >
            {schedule.status === "active" ? "Pause" : "Resume"}
          </button>
          {writer && (
            <>
              <button
                ref={editButton}
                className={small}
                aria-expanded={editing}
                aria-controls={editorId}
                onClick={() => setEditing(!editing)}
              >
                Edit
              </button>
              <ConfirmButton
                small
                kind="danger"
                label="Delete"
                title={`Delete the schedule ${schedule.name}?`}
                description="It fires no more; the runs it started stay."
                onConfirm={() => onAct(schedule, "delete")}
              />
            </>
          )}
        </td>
      </tr>
      {editing && (
        <tr id={editorId} className="border-b border-slate-100 dark:border-slate-800">
          <td colSpan={COLUMNS} className="py-3">
            <ScheduleEditor schedule={schedule} onClose={closeEditor} />
          </td>
        </tr>
      )}
    </>
  );
}

const KINDS: Record<string, string> = {
  scheduled: "On time",
  catch_up: "Caught up",
  skipped: "Skipped",
  manual: "Run now",
};

/** The last fire: when and how, then the run it started (linked, with its status now), the
 * error that kept it from starting, or the due times missed and skipped. */
function LastResult({ fire, now }: { fire: Fire | null; now: number }) {
  if (!fire) return <span className="text-muted">not fired yet</span>;
  return (
    <div data-last-fire={fire.kind}>
      <span className="block text-muted">
        {KINDS[fire.kind] ?? fire.kind}
        {fire.actor && ` by ${fire.actor}`} ·{" "}
        <time dateTime={fire.firedAt} title={dateTime(fire.firedAt)}>
          {ago(fire.firedAt, now)}
        </time>
      </span>
      {fire.pipelineId ? (
        <span className="flex items-center gap-1.5">
          <Link to={`/pipelines/${fire.pipelineId}`} className="text-sky-700 dark:text-sky-400">
            the run
          </Link>
          {fire.pipelineStatus ? (
            <StatusBadge status={fire.pipelineStatus} />
          ) : (
            <span className="text-muted">(removed since)</span>
          )}
        </span>
      ) : fire.error ? (
        <span className="text-red-700 dark:text-red-300">{fire.error}</span>
      ) : (
        <span>{fire.missed} missed, none run</span>
      )}
    </div>
  );
}

/** The schedule's form in its row, with the versions of its definition it may run. */
function ScheduleEditor({ schedule, onClose }: { schedule: Schedule; onClose: () => void }) {
  const client = useQueryClient();
  const definition = useQuery({
    queryKey: ["definition", schedule.definitionId],
    queryFn: () =>
      call(() =>
        api.GET("/api/definitions/{definition_id}", {
          params: { path: { definition_id: schedule.definitionId } },
        }),
      ),
  });
  const save = useMutation({
    mutationFn: ({ cron, intervalSeconds, ...rest }: ScheduleFields) =>
      call(() =>
        api.PATCH("/api/schedules/{schedule_id}", {
          params: { path: { schedule_id: schedule.id } },
          // Giving one of cron and intervalSeconds clears the other.
          body:
            cron !== null ? { ...rest, cron } : { ...rest, intervalSeconds: intervalSeconds ?? undefined },
        }),
      ),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["schedules"] });
      void client.invalidateQueries({ queryKey: ["schedule", schedule.id] });
      onClose();
    },
  });
  const escape = (event: KeyboardEvent) => {
    if (event.key === "Escape") onClose();
  };
  return (
    <div className="max-w-xl" onKeyDown={escape}>
      <Loaded query={definition} what="the definition's versions" rows={3}>
        {({ versions }) => {
          const published = versions.filter((v) => v.status === "published");
          if (published.length === 0) {
            return (
              <p className="text-sm text-muted">
                {schedule.definition} has no published version left to run: publish one to change this
                schedule.
              </p>
            );
          }
          return (
            <ScheduleForm
              published={published}
              schedule={schedule}
              submitLabel="Save"
              pending={save.isPending}
              error={save.error}
              onSubmit={(fields) => save.mutate(fields)}
              onCancel={onClose}
              autoFocus
            />
          );
        }}
      </Loaded>
    </div>
  );
}
