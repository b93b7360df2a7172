// Housekeeping, for admins: what the next retention round would delete, kind by kind, with the
// setting that makes it due, and running a round now to see what it deleted. The preview and
// the round apply the same rules on the server, so the one says what the other does.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, call, Problem, type Schemas } from "../api/client";
import { Card, ConfirmButton, ErrorText, Loaded, PageHeader, Table } from "../components/ui";
import { count, dateTime } from "../format";

type Kind = Schemas["RetentionKindView"];
type Preview = Schemas["RetentionPreview"];
type Run = Schemas["RetentionRun"];

// What goes with a row of a kind, in words.
const CONTENTS: Record<string, [string, string]> = {
  stages: ["stage", "stages"],
  attempts: ["attempt", "attempts"],
  logLines: ["log line", "log lines"],
  artifacts: ["artifact", "artifacts"],
  events: ["event", "events"],
};

function plural(n: number, [one, many]: [string, string]): string {
  return `${count(n)} ${n === 1 ? one : many}`;
}

// Kinds count different things (rows, days, files): what is summed is the kinds with any.
function withAny(kinds: Kind[]): number {
  return kinds.filter((kind) => kind.count > 0).length;
}

/** Why a kind goes: its setting and value, and the time before which it is due. */
function Rule({ kind }: { kind: Kind }) {
  const versions = kind.kind === "dataset_versions";
  let why = "";
  if (kind.value === 0)
    why = versions ? "every version kept, unless an application sets its own number" : "kept for ever";
  else if (kind.cutoff) why = `older than ${dateTime(kind.cutoff)}`;
  else if (versions) why = `past the newest ${kind.value} (or an application's own number)`;
  return (
    <>
      {kind.setting ? (
        <span className="font-mono text-xs break-all">
          {kind.setting}={kind.value}
        </span>
      ) : (
        <span className="text-xs text-muted">no setting</span>
      )}
      {why && <div className="text-xs text-muted">{why}</div>}
    </>
  );
}

function Count({ kind }: { kind: Kind }) {
  const contents = Object.entries(kind.contents).filter(([, n]) => n > 0);
  return (
    <>
      <span className={kind.count ? "font-semibold" : "text-muted"}>{count(kind.count)}</span>
      {contents.length > 0 && (
        <div className="text-xs text-muted">
          with {contents.map(([name, n]) => plural(n, CONTENTS[name] ?? [name, name])).join(", ")}
        </div>
      )}
      {kind.items.length > 0 && <div className="font-mono text-xs text-muted">{kind.items.join(", ")}</div>}
    </>
  );
}

/** Each kind retention deletes, with what is (or was) deleted of it. */
function Kinds({ kinds, label, counted }: { kinds: Kind[]; label: string; counted: string }) {
  return (
    <Table columns={["What", "Why", counted, "By application"]} minWidth="44rem">
      <tbody aria-label={label}>
        {kinds.map((kind) => (
          <tr
            key={kind.kind}
            data-kind={kind.kind}
            data-count={kind.count}
            className="border-b border-slate-100 align-top dark:border-slate-800"
          >
            <td className="py-1.5 pr-3">{kind.description}</td>
            <td className="pr-3">
              <Rule kind={kind} />
            </td>
            <td className="pr-3 whitespace-nowrap">
              <Count kind={kind} />
            </td>
            <td className="text-xs">
              {kind.applications.map((a) => `${a.applicationName}: ${count(a.count)}`).join(", ")}
            </td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

function runProblem(error: Error | null): string | Error | null {
  if (error instanceof Problem && error.code === "retention_running")
    return "A retention round is running now (the built-in worker's, or someone else's). Try again in a moment.";
  return error;
}

export function Housekeeping() {
  const client = useQueryClient();
  const preview = useQuery({
    queryKey: ["retention", "preview"],
    queryFn: () => call(() => api.GET("/api/retention/preview")),
  });
  const run = useMutation({
    mutationFn: () => call(() => api.POST("/api/retention/run")),
    onSettled: () => client.invalidateQueries({ queryKey: ["retention", "preview"] }),
  });
  return (
    <section className="space-y-4">
      <PageHeader title="Housekeeping" />
      <p className="text-sm text-muted">
        The built-in worker runs a retention round every 5 minutes, deleting what has aged past the{" "}
        <span className="font-mono">PIPELOGIQ_RETAIN_*</span> settings. This is what a round would delete now,
        by the same rules; nothing is deleted until a round runs.
      </p>
      <Card title="What a round would delete now">
        <Loaded query={preview} what="the preview" rows={8}>
          {(data: Preview) => (
            <>
              <p className="mb-2 text-sm">
                <span role="status" aria-live="polite">
                  {withAny(data.kinds) === 0
                    ? "Nothing is due."
                    : `Something is due in ${withAny(data.kinds)} of the ${data.kinds.length} kinds.`}
                </span>{" "}
                <span className="text-muted">Counted {dateTime(data.at)}.</span>
              </p>
              <Kinds kinds={data.kinds} label="due now" counted="Would delete" />
              <div className="mt-3 flex flex-wrap items-center gap-3">
                <ConfirmButton
                  label="Run retention now"
                  kind="danger"
                  title="Run a retention round now?"
                  description="It deletes what is listed here, and whatever has become due since, for good. With a large backlog it takes a while."
                  confirmLabel="Run it"
                  disabled={run.isPending}
                  onConfirm={() => run.mutate()}
                />
                {run.isPending && (
                  <span role="status" className="text-sm text-muted">
                    Running…
                  </span>
                )}
              </div>
              <ErrorText error={runProblem(run.error)} className="mt-2" />
            </>
          )}
        </Loaded>
      </Card>
      {run.data && <Deleted run={run.data} />}
    </section>
  );
}

function Deleted({ run }: { run: Run }) {
  const deleted = withAny(run.kinds);
  return (
    <Card title="What the round deleted">
      <p role="status" className="mb-2 text-sm">
        {deleted === 0
          ? "Nothing was due: nothing was deleted."
          : `The round deleted what was due of ${deleted} ${deleted === 1 ? "kind" : "kinds"}, below.`}{" "}
        <span className="text-muted">
          {dateTime(run.startedAt)} to {dateTime(run.finishedAt)}
          {run.partitionsMade > 0 && `; ${run.partitionsMade} day partitions made ahead`}.
        </span>
      </p>
      {deleted > 0 && (
        <Kinds kinds={run.kinds.filter((kind) => kind.count > 0)} label="deleted" counted="Deleted" />
      )}
      {run.problems.length > 0 && (
        <div className="mt-3 text-sm">
          <p>Not done, tried again at the next round:</p>
          <ul aria-label="problems" className="list-disc pl-5 font-mono text-xs">
            {run.problems.map((problem) => (
              <li key={problem}>{problem}</li>
            ))}
          </ul>
        </div>
      )}
    </Card>
  );
}
