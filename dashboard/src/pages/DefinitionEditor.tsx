// A definition built or edited in the builder or as text, the two editing one document, saved
// as a draft: /definitions/new makes a definition, /definitions/{id}/edit?from={version} a new
// draft of one (the draft itself, when that version is one).
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Tabs } from "radix-ui";
import { useState } from "react";
import { useNavigate, useParams, useSearchParams } from "react-router";

import { api, call } from "../api/client";
import { ApplicationSelect } from "../components/ApplicationSelect";
import { DefinitionBuilder } from "../components/DefinitionBuilder";
import { buttonClass, ErrorText, Loaded, PageHeader, TAB } from "../components/ui";
import { convert, NEW_DEFINITION } from "../builder";
import { may } from "../permissions";
import { useApplications } from "../queries";
import { useMe } from "../session";
import { useVersionText } from "./DefinitionDetail";
import { DefinitionText, type FileFormat, FileProblems, useFileCheck } from "./Definitions";

export function NewDefinition() {
  if (!may(useMe().data?.role, "write_definitions")) return <NotAWriter />;
  return <Editor base={NEW_DEFINITION} />;
}

/** The API would refuse the save: the page says so before anything is built. */
function NotAWriter() {
  return (
    <p role="alert" className="py-10 text-center text-muted">
      Building definitions is for developers and admins.
    </p>
  );
}

export function EditDefinition() {
  const writer = may(useMe().data?.role, "write_definitions");
  const { id = "" } = useParams();
  const from = Number(useSearchParams()[0].get("from") ?? "0");
  const text = useVersionText(id, from);
  if (!writer) return <NotAWriter />;
  return (
    <Loaded query={text} what="the version">
      {(base) => <Editor base={base} definitionId={id} version={from} />}
    </Loaded>
  );
}

function Editor({ base, definitionId, version }: { base: string; definitionId?: string; version?: number }) {
  const client = useQueryClient();
  const navigate = useNavigate();
  const applications = useApplications();
  const [applicationId, setApplicationId] = useState("");
  const [content, setContent] = useState(base);
  const [format, setFormat] = useState<FileFormat>("yaml");
  const [tab, setTab] = useState("builder");
  const [submit, setSubmit] = useState(false);
  const problems = useFileCheck(content, format);
  const chosen = applicationId || applications.data?.[0]?.id || "";
  const save = useMutation({
    mutationFn: async () => {
      if (definitionId) {
        const saved = await call(() =>
          api.PUT("/api/definitions/{definition_id}/draft", {
            params: { path: { definition_id: definitionId } },
            body: { content, format },
          }),
        );
        return saved.version.definitionId;
      }
      const saved = await call(() =>
        api.POST("/api/definitions/import", { body: { applicationId: chosen, content, format, submit } }),
      );
      return saved.version.definitionId;
    },
    onSuccess: (id) => {
      void client.invalidateQueries({ queryKey: ["definitions"] });
      void client.invalidateQueries({ queryKey: ["definition", id] });
      void navigate(`/definitions/${id}`);
    },
  });
  return (
    <section className="space-y-3">
      <PageHeader title={definitionId ? `A draft from version ${version}` : "New definition"}>
        <button
          className={buttonClass("primary")}
          disabled={save.isPending || !content.trim()}
          onClick={() => save.mutate()}
        >
          Save draft
        </button>
      </PageHeader>
      {!definitionId && (
        <div className="flex flex-wrap items-center gap-4 text-sm">
          <label className="flex items-center gap-2">
            Application
            <ApplicationSelect value={chosen} onChange={setApplicationId} />
          </label>
          <label className="flex items-center gap-2">
            <input type="checkbox" checked={submit} onChange={(e) => setSubmit(e.target.checked)} />
            Send it to review at once
          </label>
        </div>
      )}
      <div aria-live="polite">
        <FileProblems checked={problems} refused={save.error} />
        {!problems.length && content.trim() && (
          <p className="text-sm text-emerald-700 dark:text-emerald-300" role="status">
            No problem found.
          </p>
        )}
      </div>
      <ErrorText error={save.error} />
      <Tabs.Root value={tab} onValueChange={setTab}>
        <Tabs.List aria-label="editors" className="mb-3 flex border-b border-slate-200 dark:border-slate-800">
          <Tabs.Trigger value="builder" className={TAB}>
            Builder
          </Tabs.Trigger>
          <Tabs.Trigger value="text" className={TAB}>
            {format === "yaml" ? "YAML" : "JSON"}
          </Tabs.Trigger>
        </Tabs.List>
        <Tabs.Content value="builder">
          <DefinitionBuilder content={content} format={format} onChange={setContent} />
        </Tabs.Content>
        <Tabs.Content value="text" className="space-y-3">
          <DefinitionText
            content={content}
            format={format}
            onChange={setContent}
            onFormat={(next) => {
              // The same document in the other format, not the same text read otherwise.
              setContent(convert(content, format, next));
              setFormat(next);
            }}
          />
        </Tabs.Content>
      </Tabs.Root>
    </section>
  );
}
