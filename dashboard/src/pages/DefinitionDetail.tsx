// One pipeline definition: its versions and where each stands in review, the chosen version's
// file, the moves the user may make on it, a form to start a run, its runs and its history; and
// deleting it, while no pipeline has been run from it.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router";

import { api, call, Problem, type Schemas } from "../api/client";
import { DagGraph } from "../components/DagGraph";
import { RunHistory } from "../components/RunHistory";
import {
  buttonClass,
  Card,
  ConfirmButton,
  Empty,
  ErrorNote,
  ErrorText,
  inputClass,
  Loaded,
  Loading,
  Modal,
  Table,
} from "../components/ui";
import { documentStages } from "../dag";
import { dateTime } from "../format";
import { ParamFields } from "../components/ParamFields";
import { fieldsOf, initialValues, paramsFrom, type Values } from "../paramsForm";
import { may } from "../permissions";
import { useMe } from "../session";
import { StatusBadge, Time } from "../status";
import { DefinitionText, type FileFormat, FileProblems, problemsOf, useFileCheck } from "./Definitions";
import { DefinitionSchedules } from "./DefinitionSchedules";

type Version = Schemas["DefinitionVersionView"];
type Step = "submit" | "withdraw" | "approve" | "reject" | "archive";

export function useVersionText(definitionId: string, version: number) {
  return useQuery({
    queryKey: ["definition", definitionId, version, "yaml"],
    queryFn: () =>
      call(() =>
        api.GET("/api/definitions/{definition_id}/versions/{version}/export", {
          params: { path: { definition_id: definitionId, version }, query: { format: "yaml" } },
          parseAs: "text",
        }),
      ) as Promise<string>,
  });
}

export function DefinitionDetail() {
  const { id = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const me = useMe().data;
  const detail = useQuery({
    queryKey: ["definition", id],
    queryFn: () =>
      call(() => api.GET("/api/definitions/{definition_id}", { params: { path: { definition_id: id } } })),
  });
  const [editing, setEditing] = useState<Version | null>(null);
  const [running, setRunning] = useState(false);
  const removal = useDeletion(id);
  if (detail.isError) return <ErrorNote what="the definition" error={detail.error} />;
  if (detail.isPending) return <Loading rows={6} label="Loading the definition" />;
  const { definition, versions } = detail.data;
  const [latest] = versions;
  // A definition always has a version: it is created with its first.
  if (latest === undefined) return null;
  const chosen = versions.find((v) => String(v.version) === params.get("v")) ?? latest;
  const published = versions.filter((v) => v.status === "published");
  const writer = may(me?.role, "write_definitions");
  const choose = (version: number) => setParams({ v: String(version) }, { replace: true });
  return (
    <div className="space-y-4">
      <header className="flex flex-wrap items-center gap-x-3 gap-y-2">
        <h1 className="text-xl font-semibold break-all">{definition.name}</h1>
        <span className="text-sm text-muted">{definition.applicationName}</span>
        <span className="text-sm text-muted">
          {definition.publishedVersion !== null
            ? `runs v${definition.publishedVersion}`
            : "not published yet"}
        </span>
        <span className="ml-auto flex gap-2">
          {definition.publishedVersion !== null && (
            <button className={buttonClass("primary")} onClick={() => setRunning(true)}>
              Run…
            </button>
          )}
          {writer && (
            <button className={buttonClass()} onClick={() => setEditing(latest)}>
              {latest.status === "draft" ? "Edit the draft" : "New draft"}
            </button>
          )}
          {writer && (
            <Link to={`/definitions/${definition.id}/edit?from=${latest.version}`} className={buttonClass()}>
              Open in the builder
            </Link>
          )}
          {writer && definition.runs === 0 && (
            <ConfirmButton
              label="Delete definition"
              kind="danger"
              title={`Delete ${definition.name}?`}
              description={`No pipeline has been run from it. Its ${
                versions.length === 1 ? "version goes" : `${versions.length} versions go`
              } with it, and its schedules. This cannot be undone.`}
              confirmLabel="Delete"
              disabled={removal.isPending}
              onConfirm={() => removal.mutate()}
            />
          )}
        </span>
      </header>
      <ErrorText error={deletionProblem(removal.error)} />
      {definition.description && <p className="text-sm whitespace-pre-line">{definition.description}</p>}
      <div className="grid gap-4 lg:grid-cols-[16rem_1fr]">
        <Card title="Versions">
          <ol aria-label="versions" className="space-y-1">
            {versions.map((version) => (
              <li key={version.version}>
                <button
                  aria-current={version === chosen ? "true" : undefined}
                  onClick={() => choose(version.version)}
                  className={`flex w-full items-center justify-between gap-2 rounded px-2 py-1 text-left text-sm ${
                    version === chosen ? "bg-slate-100 dark:bg-slate-800" : ""
                  }`}
                >
                  <span>v{version.version}</span>
                  <StatusBadge status={version.status} />
                </button>
              </li>
            ))}
          </ol>
        </Card>
        <VersionPanel
          key={chosen.version}
          version={chosen}
          writer={writer}
          email={me?.email}
          onEdit={() => setEditing(chosen)}
        />
      </div>
      <DefinitionSchedules definitionId={definition.id} published={published} writer={writer} />
      <RunHistory applicationId={definition.applicationId} name={definition.name} />
      <Runs definitionId={definition.id} />
      <History definitionId={definition.id} />
      {editing && <EditDraft base={editing} onClose={() => setEditing(null)} />}
      {running && published[0] && (
        <RunForm
          definitionId={definition.id}
          newest={published[0]}
          versions={published}
          onClose={() => setRunning(false)}
        />
      )}
    </div>
  );
}

/** Deleting the definition, then back to the list; a refusal shows the definition as it is now. */
function useDeletion(definitionId: string) {
  const client = useQueryClient();
  const navigate = useNavigate();
  return useMutation({
    mutationFn: () =>
      call(() =>
        api.DELETE("/api/definitions/{definition_id}", { params: { path: { definition_id: definitionId } } }),
      ),
    onSuccess: () => {
      void navigate("/definitions");
      client.removeQueries({ queryKey: ["definition", definitionId] });
      void client.invalidateQueries({ queryKey: ["definitions"] });
    },
    onError: () => client.invalidateQueries({ queryKey: ["definition", definitionId] }),
  });
}

function deletionProblem(error: Error | null): string | Error | null {
  if (error instanceof Problem && error.code === "definition_has_runs")
    return "The definition was not deleted: a pipeline has been run from it since this page was loaded, and a definition with runs stays. Archive its versions instead.";
  return error;
}

function useStep(version: Version) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ step, comment }: { step: Step; comment?: string }) =>
      call(() =>
        api.POST("/api/definitions/{definition_id}/versions/{version}/{step}", {
          params: { path: { definition_id: version.definitionId, version: version.version, step } },
          body: comment ? { comment } : null,
        }),
      ),
    onSettled: () => {
      void client.invalidateQueries({ queryKey: ["definition", version.definitionId] });
      void client.invalidateQueries({ queryKey: ["definitions"] });
    },
  });
}

function VersionPanel({
  version,
  writer,
  email,
  onEdit,
}: {
  version: Version;
  writer: boolean;
  email: string | undefined;
  onEdit: () => void;
}) {
  const text = useVersionText(version.definitionId, version.version);
  const step = useStep(version);
  const [rejecting, setRejecting] = useState(false);
  const authored = email !== undefined && version.authors.includes(email);
  const base = `/api/definitions/${version.definitionId}/versions/${version.version}/export`;
  const small = buttonClass("default", true);
  return (
    <Card title={`Version ${version.version}`}>
      <div className="mb-3 flex flex-wrap items-center gap-2 text-sm">
        <StatusBadge status={version.status} />
        <span className="text-muted">by {version.authors.join(", ") || "—"}</span>
        <span className="text-muted">
          · changed <Time at={version.updatedAt} />
        </span>
        {version.publishedAt && (
          <span className="text-muted">· published {dateTime(version.publishedAt)}</span>
        )}
      </div>
      {version.reviewedBy && (
        <p
          className="mb-3 rounded border border-slate-200 p-2 text-sm dark:border-slate-700"
          aria-label="review"
        >
          {version.status === "published" ? "Approved" : "Reviewed"} by {version.reviewedBy}
          {version.reviewComment && <>: “{version.reviewComment}”</>}
        </p>
      )}
      <div className="mb-3 flex flex-wrap gap-2">
        {writer && version.status === "draft" && (
          <>
            <button className={small} onClick={onEdit}>
              Edit
            </button>
            <button className={buttonClass("primary", true)} onClick={() => step.mutate({ step: "submit" })}>
              Submit for review
            </button>
          </>
        )}
        {writer && version.status === "in_review" && (
          <>
            {!authored && (
              <button
                className={buttonClass("primary", true)}
                onClick={() => step.mutate({ step: "approve" })}
              >
                Approve and publish
              </button>
            )}
            {!authored && (
              <button className={small} onClick={() => setRejecting(true)}>
                Reject…
              </button>
            )}
            {authored && (
              <span className="text-xs text-muted">You wrote this version: someone else reviews it.</span>
            )}
            <button className={small} onClick={() => step.mutate({ step: "withdraw" })}>
              Withdraw
            </button>
          </>
        )}
        {writer && version.status !== "archived" && (
          <ConfirmButton
            small
            kind="danger"
            label="Archive"
            title={`Archive version ${version.version}?`}
            description="It no longer runs or moves; runs it made keep it as their version."
            onConfirm={() => step.mutate({ step: "archive" })}
          />
        )}
        <a className={small} href={`${base}?format=yaml`} download>
          Export YAML
        </a>
        <a className={small} href={`${base}?format=json`} download>
          Export JSON
        </a>
      </div>
      <ErrorText error={step.error} className="mb-2" />
      <VersionDag document={version.document} />
      <Loaded query={text} what="the file">
        {(yaml) => (
          <pre
            aria-label="definition file"
            className="max-h-[32rem] overflow-auto rounded bg-slate-50 p-3 font-mono text-xs dark:bg-slate-900"
          >
            {yaml}
          </pre>
        )}
      </Loaded>
      {rejecting && (
        <RejectVersion
          onReject={(comment) => {
            step.mutate({ step: "reject", comment });
            setRejecting(false);
          }}
          onClose={() => setRejecting(false)}
        />
      )}
    </Card>
  );
}

function RejectVersion({ onReject, onClose }: { onReject: (comment: string) => void; onClose: () => void }) {
  const [comment, setComment] = useState("");
  return (
    <Modal open onOpenChange={(open) => !open && onClose()} title="Reject this version">
      <form
        onSubmit={(event) => {
          event.preventDefault();
          onReject(comment);
        }}
        className="space-y-3"
      >
        <label className="block text-sm">
          What should change (the author sees it)
          <textarea
            required
            value={comment}
            maxLength={2000}
            onChange={(e) => setComment(e.target.value)}
            className={`${inputClass} mt-1 block w-full`}
          />
        </label>
        <div className="flex justify-end gap-2">
          <button type="button" className={buttonClass()} onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className={buttonClass("danger")} disabled={comment.trim() === ""}>
            Reject
          </button>
        </div>
      </form>
    </Modal>
  );
}

function EditDraft({ base, onClose }: { base: Version; onClose: () => void }) {
  const client = useQueryClient();
  const text = useVersionText(base.definitionId, base.version);
  const [content, setContent] = useState<string | null>(null);
  const [format, setFormat] = useState<FileFormat>("yaml");
  const shown = content ?? text.data ?? "";
  const problems = useFileCheck(shown, format);
  const save = useMutation({
    mutationFn: () =>
      call(() =>
        api.PUT("/api/definitions/{definition_id}/draft", {
          params: { path: { definition_id: base.definitionId } },
          body: { content: shown, format },
        }),
      ),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["definition", base.definitionId] });
      void client.invalidateQueries({ queryKey: ["definitions"] });
      onClose();
    },
  });
  const title =
    base.status === "draft" ? `Edit version ${base.version}` : `A new draft from version ${base.version}`;
  return (
    <Modal open onOpenChange={(open) => !open && onClose()} title={title}>
      <form
        onSubmit={(event: FormEvent) => {
          event.preventDefault();
          save.mutate();
        }}
        className="space-y-3"
      >
        <DefinitionText content={shown} format={format} onChange={setContent} onFormat={setFormat} />
        <FileProblems checked={problems} refused={save.error} />
        <ErrorText error={save.error} />
        <div className="flex justify-end gap-2">
          <button type="button" className={buttonClass()} onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className={buttonClass("primary")} disabled={save.isPending || shown === ""}>
            Save draft
          </button>
        </div>
      </form>
    </Modal>
  );
}

function RunForm({
  definitionId,
  newest,
  versions,
  onClose,
}: {
  definitionId: string;
  newest: Version;
  versions: Version[];
  onClose: () => void;
}) {
  const navigate = useNavigate();
  const [number, setNumber] = useState(newest.version);
  const version = versions.find((v) => v.version === number) ?? newest;
  const fields = fieldsOf(version.document.params as Record<string, unknown> | null);
  const [values, setValues] = useState<Values>(() => initialValues(fields));
  const [problem, setProblem] = useState<string | null>(null);
  const start = useMutation({
    mutationFn: (body: Schemas["DefinitionRunRequest"]) =>
      call(() =>
        api.POST("/api/definitions/{definition_id}/runs", {
          params: { path: { definition_id: definitionId } },
          body,
        }),
      ),
    onSuccess: (detail) => void navigate(`/pipelines/${detail.pipeline.id}`),
  });
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    const read = paramsFrom(fields, values);
    if ("problem" in read) setProblem(read.problem);
    else {
      setProblem(null);
      start.mutate({ version: number, params: read.params });
    }
  };
  return (
    <Modal open onOpenChange={(open) => !open && onClose()} title={`Run ${version.name}`}>
      <form onSubmit={onSubmit} className="space-y-3">
        <label className="block text-sm">
          Version
          <select
            value={number}
            onChange={(e) => {
              const next = Number(e.target.value);
              setNumber(next);
              const chosen = versions.find((v) => v.version === next) ?? newest;
              setValues(initialValues(fieldsOf(chosen.document.params as Record<string, unknown> | null)));
            }}
            className={`${inputClass} mt-1 block w-full`}
          >
            {versions.map((v) => (
              <option key={v.version} value={v.version}>
                v{v.version}
              </option>
            ))}
          </select>
        </label>
        <ParamFields fields={fields} values={values} onChange={setValues} errors={problemsOf(start.error)} />
        <ErrorText error={problem ?? start.error} />
        <div className="flex justify-end gap-2">
          <button type="button" className={buttonClass()} onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className={buttonClass("primary")} disabled={start.isPending}>
            Start the run
          </button>
        </div>
      </form>
    </Modal>
  );
}

function Runs({ definitionId }: { definitionId: string }) {
  const runs = useQuery({
    queryKey: ["pipelines", "definition", definitionId],
    queryFn: () =>
      call(() => api.GET("/api/pipelines", { params: { query: { definition: definitionId, limit: 20 } } })),
  });
  return (
    <Card title="Runs">
      <Loaded query={runs} what="the runs">
        {({ items }) =>
          items.length === 0 ? (
            <Empty>No runs yet.</Empty>
          ) : (
            <Table columns={["Pipeline", "Version", "Status", "Started"]} minWidth="32rem">
              <tbody>
                {items.map((run) => (
                  <tr key={run.id} className="border-b border-slate-100 dark:border-slate-800">
                    <td className="py-1.5">
                      <Link
                        to={`/pipelines/${run.id}`}
                        className="font-mono text-xs text-sky-700 dark:text-sky-400"
                      >
                        {run.id.slice(0, 8)}
                      </Link>
                    </td>
                    <td>v{run.definitionVersion}</td>
                    <td>
                      <StatusBadge status={run.status} />
                    </td>
                    <td className="text-xs">
                      <Time at={run.createdAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
    </Card>
  );
}

function History({ definitionId }: { definitionId: string }) {
  const history = useQuery({
    queryKey: ["definition", definitionId, "history"],
    queryFn: () =>
      call(() =>
        api.GET("/api/definitions/{definition_id}/history", {
          params: { path: { definition_id: definitionId } },
        }),
      ),
  });
  return (
    <Card title="History">
      <Loaded query={history} what="the history">
        {(entries) => (
          <ol aria-label="definition history" className="space-y-1 text-sm">
            {entries.map((entry) => {
              const details = entry.details as { version?: number; comment?: string };
              return (
                <li key={entry.id} className="flex flex-wrap gap-x-2">
                  <span className="text-xs text-muted">{dateTime(entry.at)}</span>
                  <span className="font-mono text-xs">{entry.action}</span>
                  <span>v{details.version}</span>
                  <span className="text-muted">by {entry.actor}</span>
                  {details.comment && <span>“{details.comment}”</span>}
                </li>
              );
            })}
          </ol>
        )}
      </Loaded>
    </Card>
  );
}

/** The version's stages as the DAG its runs will have, before any run. */
function VersionDag({ document }: { document: Record<string, unknown> }) {
  const stages = documentStages(document);
  if (!stages.length) return null;
  return (
    <div className="mb-3" aria-label="stages of this version">
      <DagGraph stages={stages.map((stage) => ({ ...stage, id: stage.name, status: "not_started" }))} />
    </div>
  );
}
