// The schedules of a pipeline definition: when each runs next, what its recent fires did, and
// pausing, resuming or running one now (anyone); creating and deleting them (developers and
// admins).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { ScheduleForm, type ScheduleFields } from "../components/ScheduleForm";
import { buttonClass, Card, ConfirmButton, Empty, ErrorText, Loaded, Modal, Table } from "../components/ui";
import { dateTime } from "../format";
import { describeTiming, useScheduleAction } from "../schedules";
import { StatusBadge } from "../status";

type Version = Schemas["DefinitionVersionView"];

export function DefinitionSchedules({
  definitionId,
  published,
  writer,
}: {
  definitionId: string;
  published: Version[];
  writer: boolean;
}) {
  const schedules = useQuery({
    queryKey: ["schedules", definitionId],
    queryFn: () => call(() => api.GET("/api/schedules", { params: { query: { definition: definitionId } } })),
    // Next due times move on as the schedules fire.
    refetchInterval: 30_000,
  });
  const [creating, setCreating] = useState(false);
  const [shown, setShown] = useState<string | null>(null);
  const act = useScheduleAction();
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
      {creating && published.length > 0 && (
        <NewSchedule definitionId={definitionId} published={published} onClose={() => setCreating(false)} />
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
  published,
  onClose,
}: {
  definitionId: string;
  published: Version[];
  onClose: () => void;
}) {
  const client = useQueryClient();
  const save = useMutation({
    mutationFn: (fields: ScheduleFields) =>
      call(() => api.POST("/api/schedules", { body: { ...fields, definitionId, status: "active" } })),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["schedules"] });
      onClose();
    },
  });
  return (
    <Modal open onOpenChange={(open) => !open && onClose()} title={`Schedule ${published[0]?.name}`}>
      <ScheduleForm
        published={published}
        submitLabel="Create schedule"
        pending={save.isPending}
        error={save.error}
        onSubmit={(fields) => save.mutate(fields)}
        onCancel={onClose}
      />
    </Modal>
  );
}
