// Policies: concurrency and rate limits, retries and timeouts, per handler or pipeline. Anyone
// reads them; developers and admins create, change, pause and delete them. Each change is in
// the policy's history.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import { api, call, type Schemas } from "../api/client";
import { ApplicationSelect } from "../components/ApplicationSelect";
import {
  buttonClass,
  ConfirmButton,
  Empty,
  ErrorText,
  inputClass,
  Loaded,
  Modal,
  PageHeader,
  Table,
} from "../components/ui";
import { dateTime } from "../format";
import { may } from "../permissions";
import { configFrom, describe, FIELDS, type Kind, KINDS, valuesOf } from "../policyForm";
import { useApplications } from "../queries";
import { useMe } from "../session";
import { StatusBadge, Time } from "../status";

type Policy = Schemas["PolicyView"];

export function Policies() {
  const role = useMe().data?.role;
  const client = useQueryClient();
  const applications = useApplications();
  const policies = useQuery({ queryKey: ["policies"], queryFn: () => call(() => api.GET("/api/policies")) });
  const [editing, setEditing] = useState<Policy | "new" | null>(null);
  const [history, setHistory] = useState<Policy | null>(null);
  const change = useMutation({
    mutationFn: ({ policy, body }: { policy: Policy; body: Schemas["PolicyChange"] | null }) =>
      body === null
        ? call(() => api.DELETE("/api/policies/{policy_id}", { params: { path: { policy_id: policy.id } } }))
        : call(() =>
            api.PATCH("/api/policies/{policy_id}", { params: { path: { policy_id: policy.id } }, body }),
          ),
    onSettled: () => client.invalidateQueries({ queryKey: ["policies"] }),
  });
  const names = new Map(applications.data?.map((a) => [a.id, a.displayName ?? a.name]));
  const writable = may(role, "change_policies");
  return (
    <section>
      <PageHeader title="Policies">
        {writable && (
          <button className={buttonClass("primary")} onClick={() => setEditing("new")}>
            New policy
          </button>
        )}
      </PageHeader>
      <ErrorText error={change.error} className="mb-2" />
      <Loaded query={policies} what="policies">
        {({ items }) =>
          items.length === 0 ? (
            <Empty>
              No policies. A policy limits how many jobs of a handler run at once or start per second, or sets
              the retries and timeout of the stages submitted.
            </Empty>
          ) : (
            <Table
              columns={[
                "Name",
                "Application",
                "Applies to",
                "Rule",
                "Status",
                "Changed",
                { label: "Actions", hidden: true },
              ]}
              minWidth="52rem"
            >
              <tbody>
                {items.map((policy) => (
                  <tr
                    key={policy.id}
                    data-policy={policy.name}
                    className="border-b border-slate-100 dark:border-slate-800"
                  >
                    <td className="py-2 font-medium">{policy.name}</td>
                    <td>{names.get(policy.applicationId) ?? "—"}</td>
                    <td>
                      {policy.target.type} <span className="font-mono text-xs">{policy.target.name}</span>
                    </td>
                    <td>{describe(policy.kind, policy.config)}</td>
                    <td>
                      <StatusBadge status={policy.status} />
                    </td>
                    <td className="text-xs">
                      <Time at={policy.updatedAt} />
                    </td>
                    <td className="space-x-2 py-1 text-right whitespace-nowrap">
                      <button className={buttonClass("default", true)} onClick={() => setHistory(policy)}>
                        History
                      </button>
                      {writable && (
                        <>
                          <button className={buttonClass("default", true)} onClick={() => setEditing(policy)}>
                            Edit
                          </button>
                          <button
                            className={buttonClass("default", true)}
                            disabled={change.isPending}
                            onClick={() =>
                              change.mutate({
                                policy,
                                body: { status: policy.status === "active" ? "paused" : "active" },
                              })
                            }
                          >
                            {policy.status === "active" ? "Pause" : "Resume"}
                          </button>
                          <ConfirmButton
                            small
                            kind="danger"
                            label="Delete"
                            title={`Delete the policy ${policy.name}?`}
                            description="It stops acting at once; jobs it held go on. Its history stays in the audit log."
                            onConfirm={() => change.mutate({ policy, body: null })}
                          />
                        </>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
      {editing !== null && (
        <PolicyEditor
          policy={editing === "new" ? null : editing}
          applications={applications.data ?? []}
          onClose={() => setEditing(null)}
        />
      )}
      {history && <PolicyHistory policy={history} onClose={() => setHistory(null)} />}
    </section>
  );
}

function PolicyEditor({
  policy,
  applications,
  onClose,
}: {
  policy: Policy | null;
  applications: Schemas["ApplicationView"][];
  onClose: () => void;
}) {
  const client = useQueryClient();
  const [kind, setKind] = useState<Kind>((policy?.kind as Kind | undefined) ?? "concurrency");
  const [name, setName] = useState(policy?.name ?? "");
  const [applicationId, setApplicationId] = useState(policy?.applicationId ?? applications[0]?.id ?? "");
  const [targetType, setTargetType] = useState<"handler" | "pipeline">(
    (policy?.target.type as "handler" | undefined) ?? "handler",
  );
  const [target, setTarget] = useState(policy?.target.name ?? "");
  const [values, setValues] = useState<Record<string, string>>(() => valuesOf(kind, policy?.config ?? {}));
  const [problem, setProblem] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: (config: Record<string, unknown>) =>
      policy
        ? call(() =>
            api.PATCH("/api/policies/{policy_id}", {
              params: { path: { policy_id: policy.id } },
              body: { name, config },
            }),
          )
        : call(() =>
            api.POST("/api/policies", {
              body: {
                applicationId,
                name,
                kind,
                target: { type: targetType, name: target },
                config,
                status: "active",
              },
            }),
          ),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["policies"] });
      onClose();
    },
    onError: (error) => setProblem(error.message),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = configFrom(kind, values);
    if ("problem" in parsed) setProblem(parsed.problem);
    else save.mutate(parsed.config);
  };
  const label = "block text-sm";
  return (
    <Modal
      open
      onOpenChange={(open) => !open && onClose()}
      title={policy ? `Edit ${policy.name}` : "New policy"}
    >
      <form onSubmit={submit} className="space-y-3">
        <label className={label}>
          Name
          <input
            required
            value={name}
            onChange={(e) => setName(e.target.value)}
            className={`${inputClass} mt-1 block w-full`}
          />
        </label>
        {!policy && (
          <>
            <label className={label}>
              Application
              <ApplicationSelect
                value={applicationId}
                onChange={setApplicationId}
                className="mt-1 block w-full"
              />
            </label>
            <label className={label}>
              Kind
              <select
                value={kind}
                onChange={(e) => {
                  const next = e.target.value as Kind;
                  setKind(next);
                  setValues(valuesOf(next, {}));
                }}
                className={`${inputClass} mt-1 block w-full`}
              >
                {KINDS.map(([value, text]) => (
                  <option key={value} value={value}>
                    {text}
                  </option>
                ))}
              </select>
            </label>
            <div className="flex gap-2">
              <label className={label}>
                Applies to
                <select
                  value={targetType}
                  onChange={(e) => setTargetType(e.target.value as "handler" | "pipeline")}
                  className={`${inputClass} mt-1 block`}
                >
                  <option value="handler">handler</option>
                  <option value="pipeline">pipeline</option>
                </select>
              </label>
              <label className={`${label} flex-1`}>
                {targetType === "handler" ? "Handler" : "Pipeline"} name
                <input
                  required
                  value={target}
                  onChange={(e) => setTarget(e.target.value)}
                  className={`${inputClass} mt-1 block w-full font-mono`}
                />
              </label>
            </div>
          </>
        )}
        {FIELDS[kind].map((field) => (
          <label key={field.key} className={label}>
            {field.label}
            {field.type === "choice" ? (
              <select
                value={values[field.key] ?? ""}
                onChange={(e) => setValues({ ...values, [field.key]: e.target.value })}
                className={`${inputClass} mt-1 block w-full`}
              >
                <option value="">default</option>
                {field.options?.map((option) => (
                  <option key={option}>{option}</option>
                ))}
              </select>
            ) : (
              <input
                inputMode={field.type === "codes" ? "text" : "decimal"}
                required={field.required}
                value={values[field.key] ?? ""}
                onChange={(e) => setValues({ ...values, [field.key]: e.target.value })}
                className={`${inputClass} mt-1 block w-full`}
              />
            )}
          </label>
        ))}
        <ErrorText error={problem} />
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className={buttonClass()} onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className={buttonClass("primary")} disabled={save.isPending}>
            {policy ? "Save" : "Create policy"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

function PolicyHistory({ policy, onClose }: { policy: Policy; onClose: () => void }) {
  const history = useQuery({
    queryKey: ["policies", policy.id, "history"],
    queryFn: () =>
      call(() =>
        api.GET("/api/policies/{policy_id}/history", { params: { path: { policy_id: policy.id } } }),
      ),
  });
  return (
    <Modal open onOpenChange={(open) => !open && onClose()} title={`History of ${policy.name}`}>
      <Loaded query={history} what="the history">
        {(entries) => (
          <ol className="space-y-2 text-sm" aria-label="policy history">
            {entries.map((entry) => {
              // Each entry keeps the whole policy as the change left it.
              const state = entry.details as {
                kind?: string;
                config?: Record<string, unknown>;
                status?: string;
              };
              return (
                <li key={entry.id} className="rounded border border-slate-200 p-2 dark:border-slate-700">
                  <div className="flex justify-between gap-2">
                    <span className="font-mono text-xs">{entry.action}</span>
                    <span className="text-xs text-muted">{dateTime(entry.at)}</span>
                  </div>
                  <div className="text-xs text-muted">by {entry.actor ?? "—"}</div>
                  {state.config && state.kind && (
                    <div className="mt-1">
                      {describe(state.kind, state.config)}{" "}
                      {state.status && <StatusBadge status={state.status} />}
                    </div>
                  )}
                </li>
              );
            })}
          </ol>
        )}
      </Loaded>
    </Modal>
  );
}
