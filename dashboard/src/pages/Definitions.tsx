// Pipeline definitions: named DAGs with a params schema, versioned and reviewed before they
// run. Anyone lists them; developers and admins import a file (a new definition or a new draft).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useEffect, useState } from "react";
import { Link, useNavigate } from "react-router";

import { api, call, Problem as ApiProblem, type Schemas } from "../api/client";
import { ApplicationSelect } from "../components/ApplicationSelect";
import {
  buttonClass,
  Empty,
  ErrorText,
  inputClass,
  Loaded,
  Modal,
  PageHeader,
  Table,
} from "../components/ui";
import { may } from "../permissions";
import { useApplications } from "../queries";
import { useMe } from "../session";
import { StatusBadge, Time } from "../status";

export type FileFormat = "yaml" | "json";
type Problem = { path?: string; message?: string; line?: number; column?: number };

export function Definitions() {
  const role = useMe().data?.role;
  const definitions = useQuery({
    queryKey: ["definitions"],
    queryFn: () => call(() => api.GET("/api/definitions")),
  });
  const [importing, setImporting] = useState(false);
  return (
    <section>
      <PageHeader title="Definitions">
        {may(role, "write_definitions") && (
          <>
            <Link to="/definitions/new" className={buttonClass("primary")}>
              New definition
            </Link>
            <button className={buttonClass()} onClick={() => setImporting(true)}>
              Import a file
            </button>
          </>
        )}
      </PageHeader>
      <Loaded query={definitions} what="definitions">
        {({ items }) =>
          items.length === 0 ? (
            <Empty>
              No pipeline definitions. A definition is a named DAG with a params schema, kept in git as a YAML
              file and reviewed before it runs; import one to start.
            </Empty>
          ) : (
            <Table
              columns={["Name", "Application", "Published", "Latest", "Runs", "Last run", "Changed"]}
              minWidth="48rem"
            >
              <tbody>
                {items.map((definition) => (
                  <tr
                    key={definition.id}
                    data-definition={definition.name}
                    className="border-b border-slate-100 dark:border-slate-800"
                  >
                    <td className="py-2">
                      <Link
                        to={`/definitions/${definition.id}`}
                        className="font-medium text-sky-700 dark:text-sky-400"
                      >
                        {definition.name}
                      </Link>
                      {definition.description && (
                        <div className="max-w-md truncate text-xs text-muted">{definition.description}</div>
                      )}
                    </td>
                    <td>{definition.applicationName}</td>
                    <td>{definition.publishedVersion !== null ? `v${definition.publishedVersion}` : "—"}</td>
                    <td>
                      v{definition.latestVersion} <StatusBadge status={definition.latestStatus} />
                    </td>
                    <td>{definition.runs}</td>
                    <td className="text-xs">
                      <Time at={definition.lastRunAt} />
                    </td>
                    <td className="text-xs">
                      <Time at={definition.updatedAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
      {importing && <ImportFile onClose={() => setImporting(false)} />}
    </section>
  );
}

/** The problems the API found in a file, each with its line: what an editor shows. */
export function FileProblems({ checked, refused }: { checked: Problem[]; refused: unknown }) {
  // What the check as you type found; else what a refused save said.
  const problems = checked.length > 0 ? checked : problemsOf(refused);
  if (problems.length === 0) return null;
  return (
    <div role="alert">
      <ul aria-label="problems in the file" className="space-y-1 text-sm text-red-700 dark:text-red-400">
        {problems.map((problem, index) => (
          <li key={index}>
            {problem.line !== undefined && <span className="font-mono text-xs">line {problem.line}: </span>}
            {problem.path && <span className="font-mono text-xs">{problem.path} </span>}
            {problem.message}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** The file's problems as the API finds them, checked a moment after each change. */
export function useFileCheck(content: string, format: FileFormat): Problem[] {
  const [problems, setProblems] = useState<Problem[]>([]);
  useEffect(() => {
    if (content.trim() === "") {
      setProblems([]);
      return;
    }
    let current = true;
    const timer = setTimeout(() => {
      void call(() => api.POST("/api/definitions/check", { body: { content, format } }))
        .then((checked) => current && setProblems(checked.errors as Problem[]))
        .catch(() => undefined); // the save says what is wrong, should the check fail
    }, 400);
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [content, format]);
  return problems;
}

/** The problems of a refused save (a 422 carries them), else none. */
export function problemsOf(error: unknown): Problem[] {
  return error instanceof ApiProblem ? (error.errors as Problem[]) : [];
}

function ImportFile({ onClose }: { onClose: () => void }) {
  const client = useQueryClient();
  const navigate = useNavigate();
  const applications = useApplications();
  const [applicationId, setApplicationId] = useState("");
  const [content, setContent] = useState("");
  const [format, setFormat] = useState<FileFormat>("yaml");
  const [submit, setSubmit] = useState(false);
  const problems = useFileCheck(content, format);
  const save = useMutation({
    mutationFn: (body: Schemas["DefinitionImport"]) =>
      call(() => api.POST("/api/definitions/import", { body })),
    onSuccess: (saved) => {
      void client.invalidateQueries({ queryKey: ["definitions"] });
      void navigate(`/definitions/${saved.version.definitionId}`);
    },
  });
  const chosen = applicationId || applications.data?.[0]?.id || "";
  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    save.mutate({ applicationId: chosen, content, format, submit });
  };
  const readFile = async (file: File | undefined) => {
    if (!file) return;
    setFormat(file.name.endsWith(".json") ? "json" : "yaml");
    setContent(await file.text());
  };
  return (
    <Modal open onOpenChange={(open) => !open && onClose()} title="Import a definition file">
      <form onSubmit={onSubmit} className="space-y-3">
        <label className="block text-sm">
          Application
          <ApplicationSelect value={chosen} onChange={setApplicationId} className="mt-1 block w-full" />
        </label>
        <label className="block text-sm">
          File
          <input
            type="file"
            accept=".yaml,.yml,.json"
            onChange={(e) => void readFile(e.target.files?.[0])}
            className="mt-1 block w-full text-sm"
          />
        </label>
        <DefinitionText content={content} format={format} onChange={setContent} onFormat={setFormat} />
        <FileProblems checked={problems} refused={save.error} />
        <label className="flex items-center gap-2 text-sm">
          <input type="checkbox" checked={submit} onChange={(e) => setSubmit(e.target.checked)} />
          Send it to review at once
        </label>
        <ErrorText error={save.error} />
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className={buttonClass()} onClick={onClose}>
            Cancel
          </button>
          <button
            type="submit"
            className={buttonClass("primary")}
            disabled={save.isPending || content === ""}
          >
            Import
          </button>
        </div>
      </form>
    </Modal>
  );
}

export function DefinitionText({
  content,
  format,
  onChange,
  onFormat,
}: {
  content: string;
  format: FileFormat;
  onChange: (content: string) => void;
  onFormat: (format: FileFormat) => void;
}) {
  return (
    <>
      <label className="block text-sm">
        Definition ({format === "yaml" ? "YAML" : "JSON"})
        <textarea
          value={content}
          onChange={(e) => onChange(e.target.value)}
          spellCheck={false}
          rows={16}
          className={`${inputClass} mt-1 block w-full font-mono text-xs`}
        />
      </label>
      <label className="block text-sm">
        Format
        <select
          value={format}
          onChange={(e) => onFormat(e.target.value as FileFormat)}
          className={`${inputClass} mt-1 block`}
        >
          <option value="yaml">YAML</option>
          <option value="json">JSON</option>
        </select>
      </label>
    </>
  );
}
