// The schedules of a pipeline definition: when each runs next, what its recent fires did, and
// pausing, resuming or running one now (anyone); creating and deleting them (developers and
// admins).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { ParamFields } from "../components/ParamFields";
import {
  buttonClass,
  Card,
  ConfirmButton,
  Empty,
  ErrorText,
  inputClass,
  Loaded,
  Modal,
  Table,
} from "../components/ui";
import { dateTime } from "../format";
import { fieldsOf, initialValues, paramsFrom, type Values } from "../paramsForm";
import { StatusBadge } from "../status";
import { problemsOf } from "./Definitions";

type Schedule = Schemas["ScheduleView"];
type Version = Schemas["DefinitionVersionView"];

export function describeTiming(schedule: Pick<Schedule, "cron" | "intervalSeconds" | "timezone">): string {
  if (schedule.cron) return `${schedule.cron} (${schedule.timezone})`;
  const seconds = schedule.intervalSeconds ?? 0;
  if (seconds % 3600 === 0) return `every ${seconds / 3600} h`;
  if (seconds % 60 === 0) return `every ${seconds / 60} min`;
  return `every ${seconds} s`;
}

export function DefinitionSchedules({
  definitionId,
  published,
  writer,
}: {
  definitionId: string;
  published: Version[];
  writer: boolean;
}) {
  const client = useQueryClient();
  const schedules = useQuery({
    queryKey: ["schedules", definitionId],
    queryFn: () => call(() => api.GET("/api/schedules", { params: { query: { definition: definitionId } } })),
    // Next due times move on as the schedules fire.
    refetchInterval: 30_000,
  });
  const [creating, setCreating] = useState(false);
  const [shown, setShown] = useState<string | null>(null);
  const act = useMutation({
    mutationFn: ({
      schedule,
      action,
    }: {
      schedule: Schedule;
      action: "pause" | "resume" | "run" | "delete";
    }): Promise<unknown> => {
      const path = { params: { path: { schedule_id: schedule.id } } };
      switch (action) {
        case "pause":
          return call(() => api.POST("/api/schedules/{schedule_id}/pause", path));
        case "resume":
          return call(() => api.POST("/api/schedules/{schedule_id}/resume", path));
        case "run":
          return call(() => api.POST("/api/schedules/{schedule_id}/run", path));
        case "delete":
          return call(() => api.DELETE("/api/schedules/{schedule_id}", path));
      }
    },
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["schedules"] });
      void client.invalidateQueries({ queryKey: ["schedule"] });
      void client.invalidateQueries({ queryKey: ["pipelines", "definition", definitionId] });
    },
  });
  const small = buttonClass("default", true);
  return (
    <Card title="Schedules">
      {writer && published.length > 0 && (
        <button className={`${buttonClass("primary", true)} mb-3`} onClick={() => setCreating(true)}>
          New schedule
        </button>
      )}
      <ErrorText error={act.error} className="mb-2" />
      <Loaded query={schedules} what="the schedules">
        {({ items }) =>
          items.length === 0 ? (
            <Empty>
              No schedules. A schedule runs a published version with fixed params at the times of a cron
              expression, or every so often.
            </Empty>
          ) : (
            <Table
              columns={["Name", "When", "Version", "Status", "Next runs", { label: "Actions", hidden: true }]}
              minWidth="52rem"
            >
              <tbody>
                {items.map((schedule) => (
                  <tr
                    key={schedule.id}
                    data-schedule={schedule.name}
                    className="border-b border-slate-100 align-top dark:border-slate-800"
                  >
                    <td className="py-2 font-medium">{schedule.name}</td>
                    <td className="py-2 font-mono text-xs">{describeTiming(schedule)}</td>
                    <td>{schedule.version !== null ? `v${schedule.version}` : "newest published"}</td>
                    <td>
                      <StatusBadge status={schedule.status} />
                    </td>
                    <td className="text-xs">
                      <ol aria-label={`next runs of ${schedule.name}`}>
                        {schedule.nextRuns.slice(0, 3).map((at) => (
                          <li key={at}>{dateTime(at)}</li>
                        ))}
                      </ol>
                    </td>
                    <td className="space-x-2 py-1 text-right whitespace-nowrap">
                      <button
                        className={small}
                        onClick={() => setShown(shown === schedule.id ? null : schedule.id)}
                      >
                        Fires
                      </button>
                      <button className={small} onClick={() => act.mutate({ schedule, action: "run" })}>
                        Run now
                      </button>
                      <button
                        className={small}
                        onClick={() =>
                          act.mutate({ schedule, action: schedule.status === "active" ? "pause" : "resume" })
                        }
                      >
                        {schedule.status === "active" ? "Pause" : "Resume"}
                      </button>
                      {writer && (
                        <ConfirmButton
                          small
                          kind="danger"
                          label="Delete"
                          title={`Delete the schedule ${schedule.name}?`}
                          description="It fires no more; the runs it started stay."
                          onConfirm={() => act.mutate({ schedule, action: "delete" })}
                        />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
      {shown && <Fires scheduleId={shown} />}
      {creating && published[0] && (
        <NewSchedule definitionId={definitionId} newest={published[0]} onClose={() => setCreating(false)} />
      )}
    </Card>
  );
}

function Fires({ scheduleId }: { scheduleId: string }) {
  const detail = useQuery({
    queryKey: ["schedule", scheduleId],
    queryFn: () =>
      call(() => api.GET("/api/schedules/{schedule_id}", { params: { path: { schedule_id: scheduleId } } })),
  });
  return (
    <Loaded query={detail} what="the fires">
      {({ schedule, fires }) => (
        <div className="mt-3">
          <h3 className="mb-1 text-sm font-medium">Fires of {schedule.name}</h3>
          {fires.length === 0 ? (
            <p className="text-sm text-muted">Not fired yet.</p>
          ) : (
            <ol aria-label={`fires of ${schedule.name}`} className="space-y-1 text-sm">
              {fires.map((fire) => (
                <li key={fire.id} className="flex flex-wrap gap-x-2">
                  <span className="text-xs text-muted">{dateTime(fire.dueAt)}</span>
                  <span className="font-mono text-xs">{fire.kind.replaceAll("_", " ")}</span>
                  {fire.missed > 0 && <span className="text-xs">{fire.missed} missed</span>}
                  {fire.pipelineId && (
                    <Link to={`/pipelines/${fire.pipelineId}`} className="text-sky-700 dark:text-sky-400">
                      the run
                    </Link>
                  )}
                  {fire.actor && <span className="text-muted">by {fire.actor}</span>}
                  {fire.error && <span className="text-red-700 dark:text-red-400">{fire.error}</span>}
                </li>
              ))}
            </ol>
          )}
        </div>
      )}
    </Loaded>
  );
}

function NewSchedule({
  definitionId,
  newest,
  onClose,
}: {
  definitionId: string;
  newest: Version;
  onClose: () => void;
}) {
  const client = useQueryClient();
  const fields = fieldsOf(newest.document.params as Record<string, unknown> | null);
  const [name, setName] = useState("");
  const [kind, setKind] = useState<"cron" | "interval">("cron");
  const [cron, setCron] = useState("0 9 * * *");
  const [minutes, setMinutes] = useState("60");
  const [timezone, setTimezone] = useState(() => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC");
  const [catchUp, setCatchUp] = useState<"skip" | "once">("skip");
  const [pinned, setPinned] = useState(false);
  const [values, setValues] = useState<Values>(() => initialValues(fields));
  const [problem, setProblem] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: (body: Schemas["ScheduleCreate"]) => call(() => api.POST("/api/schedules", { body })),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["schedules"] });
      onClose();
    },
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const read = paramsFrom(fields, values);
    if ("problem" in read) return setProblem(read.problem);
    setProblem(null);
    save.mutate({
      definitionId,
      name,
      cron: kind === "cron" ? cron : null,
      intervalSeconds: kind === "interval" ? Math.round(Number(minutes) * 60) : null,
      timezone,
      version: pinned ? newest.version : null,
      params: read.params,
      catchUp,
      status: "active",
    });
  };
  const label = "block text-sm";
  return (
    <Modal open onOpenChange={(open) => !open && onClose()} title={`Schedule ${newest.name}`}>
      <form onSubmit={onSubmit} className="space-y-3">
        <label className={label}>
          Name
          <input
            required
            value={name}
            onChange={(e) => setName(e.target.value)}
            className={`${inputClass} mt-1 block w-full`}
          />
        </label>
        <fieldset className="flex gap-4 text-sm">
          <legend className="sr-only">How often</legend>
          <label className="flex items-center gap-1">
            <input type="radio" checked={kind === "cron"} onChange={() => setKind("cron")} /> At cron times
          </label>
          <label className="flex items-center gap-1">
            <input type="radio" checked={kind === "interval"} onChange={() => setKind("interval")} /> Every so
            often
          </label>
        </fieldset>
        {kind === "cron" ? (
          <div className="flex gap-2">
            <label className={`${label} flex-1`}>
              Cron expression
              <input
                required
                value={cron}
                onChange={(e) => setCron(e.target.value)}
                className={`${inputClass} mt-1 block w-full font-mono`}
              />
            </label>
            <label className={`${label} flex-1`}>
              Time zone
              <input
                required
                value={timezone}
                onChange={(e) => setTimezone(e.target.value)}
                className={`${inputClass} mt-1 block w-full`}
              />
            </label>
          </div>
        ) : (
          <label className={label}>
            Minutes between runs
            <input
              required
              inputMode="decimal"
              value={minutes}
              onChange={(e) => setMinutes(e.target.value)}
              className={`${inputClass} mt-1 block w-full`}
            />
          </label>
        )}
        <label className={label}>
          After downtime
          <select
            value={catchUp}
            onChange={(e) => setCatchUp(e.target.value as "skip" | "once")}
            className={`${inputClass} mt-1 block w-full`}
          >
            <option value="skip">skip the runs missed</option>
            <option value="once">run once for the runs missed</option>
          </select>
        </label>
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={pinned} onChange={(e) => setPinned(e.target.checked)} />
          Always run v{newest.version} (otherwise the newest published version)
        </label>
        <ParamFields fields={fields} values={values} onChange={setValues} errors={problemsOf(save.error)} />
        <ErrorText error={problem ?? save.error} />
        <div className="flex justify-end gap-2">
          <button type="button" className={buttonClass()} onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className={buttonClass("primary")} disabled={save.isPending}>
            Create schedule
          </button>
        </div>
      </form>
    </Modal>
  );
}
