// Uploading a file as a bronze dataset: sent with its progress shown (fetch cannot report an
// upload's progress, so this one request goes through XMLHttpRequest), then the columns the
// control plane read from it, the ingest on its way, and a definition's run on the file.
import { useMutation, useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";

import { api, call, cookie, Problem, type Schemas } from "../api/client";
import { ApplicationSelect } from "../components/ApplicationSelect";
import { buttonClass, ErrorText, inputClass, Modal, Table } from "../components/ui";
import { bytes } from "../format";
import { useApplications } from "../queries";

type Upload = Schemas["UploadView"];

/** POST the form to /api/datasets/uploads, telling `onProgress` the share sent so far. */
export function sendUpload(form: FormData, onProgress: (share: number) => void): Promise<Upload> {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open("POST", "/api/datasets/uploads");
    request.setRequestHeader("X-CSRF-Token", cookie("plq_csrf") ?? "");
    request.responseType = "json";
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    };
    request.onload = () => {
      const body = request.response as { code?: string; detail?: string } | null;
      if (request.status === 201) resolve(request.response as Upload);
      else reject(new Problem(request.status, body?.code ?? "unknown", body?.detail ?? request.statusText));
    };
    request.onerror = () => reject(new Error("the upload was cut off"));
    request.send(form);
  });
}

export function DatasetUpload({
  open,
  onOpenChange,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
}) {
  const applications = useApplications();
  const [applicationId, setApplicationId] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [name, setName] = useState("");
  const [mode, setMode] = useState<"append" | "overwrite">("append");
  const [progress, setProgress] = useState<number | null>(null);
  const chosen = applicationId || applications.data?.[0]?.id || "";
  const upload = useMutation({
    mutationFn: () => {
      const form = new FormData();
      form.set("applicationId", chosen);
      if (name) form.set("name", name);
      form.set("mode", mode);
      form.set("file", file as File);
      setProgress(0);
      return sendUpload(form, setProgress);
    },
  });
  const close = (next: boolean) => {
    if (!next) {
      upload.reset();
      setProgress(null);
      setFile(null);
    }
    onOpenChange(next);
  };
  return (
    <Modal open={open} onOpenChange={close} title="Upload a file as a bronze dataset">
      {upload.data ? (
        <Uploaded upload={upload.data} />
      ) : (
        <form
          className="space-y-3 text-sm"
          onSubmit={(event) => {
            event.preventDefault();
            upload.mutate();
          }}
        >
          <label className="block">
            Application <ApplicationSelect value={chosen} onChange={setApplicationId} />
          </label>
          <label className="block">
            File (CSV, JSON lines or Parquet){" "}
            <input
              type="file"
              accept=".csv,.tsv,.jsonl,.ndjson,.json,.parquet,.pq"
              onChange={(event) => setFile(event.target.files?.[0] ?? null)}
            />
          </label>
          <label className="block">
            Name{" "}
            <input
              value={name}
              onChange={(event) => setName(event.target.value)}
              placeholder="by default the file's"
              className={inputClass}
            />
          </label>
          <label className="block">
            If the dataset exists{" "}
            <select value={mode} onChange={(e) => setMode(e.target.value as "append")} className={inputClass}>
              <option value="append">append the rows</option>
              <option value="overwrite">replace it</option>
            </select>
          </label>
          {progress !== null && upload.isPending && (
            <progress value={progress} max={1} aria-label="upload progress" className="w-full" />
          )}
          <ErrorText error={upload.error} />
          <button
            type="submit"
            className={buttonClass("primary")}
            disabled={!file || !chosen || upload.isPending}
          >
            {upload.isPending ? `Uploading… ${Math.round((progress ?? 0) * 100)}%` : "Upload"}
          </button>
        </form>
      )}
    </Modal>
  );
}

function Uploaded({ upload }: { upload: Upload }) {
  return (
    <div className="space-y-3 text-sm" data-upload={upload.dataset}>
      <p role="status">
        {bytes(upload.bytes)} of {upload.format} landed in the lake; the{" "}
        <Link to={`/pipelines/${upload.pipelineId}`} className="underline">
          ingest into {upload.dataset}
        </Link>{" "}
        is on its way.
      </p>
      <Table columns={["Column", "Type"]}>
        <tbody aria-label="detected columns">
          {upload.schema.map((c) => (
            <tr key={c.name} className="border-b border-slate-100 dark:border-slate-800">
              <td className="py-1 font-mono">{c.name}</td>
              <td className="font-mono text-muted">{c.type}</td>
            </tr>
          ))}
        </tbody>
      </Table>
      <RunOnIt upload={upload} />
    </div>
  );
}

/** Start a run of one of the application's published definitions, with the file as a param. */
function RunOnIt({ upload }: { upload: Upload }) {
  // Read afresh each time: no live event says that a definition was published.
  const definitions = useQuery({
    queryKey: ["upload", "definitions"],
    queryFn: () => call(() => api.GET("/api/definitions")),
    staleTime: 0,
    gcTime: 0,
  });
  const published = (definitions.data?.items ?? []).filter(
    (d) => d.applicationId === upload.applicationId && d.publishedVersion !== null,
  );
  const [definitionId, setDefinitionId] = useState("");
  const [param, setParam] = useState("source");
  const chosen = definitionId || published[0]?.id || "";
  const run = useMutation({
    mutationFn: () =>
      call(() =>
        api.POST("/api/definitions/{definition_id}/runs", {
          params: { path: { definition_id: chosen } },
          body: { params: { [param]: upload.uri } },
        }),
      ),
  });
  if (!published.length)
    return <p className="text-muted">No published definition of this application to run on it.</p>;
  return (
    <form
      className="flex flex-wrap items-end gap-2"
      aria-label="run a definition on the file"
      onSubmit={(event) => {
        event.preventDefault();
        run.mutate();
      }}
    >
      <label>
        Run{" "}
        <select value={chosen} onChange={(e) => setDefinitionId(e.target.value)} className={inputClass}>
          {published.map((d) => (
            <option key={d.id} value={d.id}>
              {d.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        with the file as param{" "}
        <input value={param} onChange={(e) => setParam(e.target.value)} className={`${inputClass} w-28`} />
      </label>
      <button type="submit" className={buttonClass()} disabled={!param || run.isPending}>
        Start the run
      </button>
      {run.data && (
        <Link to={`/pipelines/${run.data.pipeline.id}`} className="underline">
          the run
        </Link>
      )}
      <ErrorText error={run.error} />
    </form>
  );
}
