// Alert rules, on the Alerts page: what an application is alerted on, how severe it is and
// which channels are told. Everyone reads them; admins and developers create, edit, pause,
// resume and delete them. Deleting a rule resolves its open alerts; their history stays.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import {
  type Condition,
  CONDITION_FIELDS,
  conditionFrom,
  conditionValues,
  CONDITIONS,
  type ConditionType,
  describeCondition,
} from "../alertForms";
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
  Table,
} from "../components/ui";
import { may } from "../permissions";
import { useAlertChannels, useAlertRules, useApplications } from "../queries";
import { useMe } from "../session";
import { SeverityBadge, StatusBadge, Time } from "../status";

type Rule = Schemas["AlertRuleView"];
type Severity = Schemas["AlertRuleCreate"]["severity"];
const SEVERITIES: Severity[] = ["info", "warning", "critical"];

export function AlertRules() {
  const role = useMe().data?.role;
  const client = useQueryClient();
  const rules = useAlertRules();
  const channels = useAlertChannels();
  const [editing, setEditing] = useState<Rule | "new" | null>(null);
  const change = useMutation({
    mutationFn: ({ rule, body }: { rule: Rule; body: Schemas["AlertRuleChange"] | null }) =>
      body === null
        ? call(() => api.DELETE("/api/alert-rules/{rule_id}", { params: { path: { rule_id: rule.id } } }))
        : call(() =>
            api.PATCH("/api/alert-rules/{rule_id}", { params: { path: { rule_id: rule.id } }, body }),
          ),
    onSettled: (_data, _error, { body }) => {
      void client.invalidateQueries({ queryKey: ["alert-rules"] });
      // A deleted rule's open alerts are resolved.
      if (body === null) void client.invalidateQueries({ queryKey: ["alerts"] });
    },
  });
  const names = new Map(channels.data?.map((c) => [c.id, c.name]));
  const manager = may(role, "manage_alerts");
  return (
    <>
      {manager && (
        <button className={`${buttonClass("primary")} mb-3`} onClick={() => setEditing("new")}>
          New rule
        </button>
      )}
      <ErrorText error={change.error} className="mb-2" />
      <Loaded query={rules} what="the alert rules" rows={3}>
        {(list) =>
          list.length === 0 ? (
            <Empty>
              No rules. A rule opens an alert when a pipeline or stage fails, stages wait with no worker, a
              queue backs up, a worker is lost or a schedule misses a run, and tells its channels.
            </Empty>
          ) : (
            <Table
              columns={[
                "Name",
                "Application",
                "When",
                "Severity",
                "Tells",
                "Status",
                "Changed",
                { label: "Actions", hidden: true },
              ]}
              minWidth="64rem"
              className="[&_td:not(:last-child)]:pr-3 [&_th:not(:last-child)]:pr-3"
            >
              <tbody>
                {list.map((rule) => (
                  <tr
                    key={rule.id}
                    data-alert-rule={rule.name}
                    className="border-b border-slate-100 align-top dark:border-slate-800"
                  >
                    <td className="py-2 font-medium">{rule.name}</td>
                    <td className="py-2">{rule.applicationName}</td>
                    <td className="max-w-sm py-2">{describeCondition(rule.condition)}</td>
                    <td className="py-2">
                      <SeverityBadge severity={rule.severity} />
                    </td>
                    <td className="py-2">
                      {rule.channelIds.length ? (
                        rule.channelIds.map((id) => names.get(id) ?? id.slice(0, 8)).join(", ")
                      ) : (
                        <span className="text-muted">no channel</span>
                      )}
                    </td>
                    <td className="py-2">
                      <StatusBadge status={rule.status} />
                    </td>
                    <td className="py-2 text-xs whitespace-nowrap">
                      <Time at={rule.updatedAt} />
                    </td>
                    <td className="space-x-2 py-2 text-right whitespace-nowrap">
                      {manager && (
                        <>
                          <button className={buttonClass("default", true)} onClick={() => setEditing(rule)}>
                            Edit
                          </button>
                          <button
                            className={buttonClass("default", true)}
                            disabled={change.isPending}
                            onClick={() =>
                              change.mutate({
                                rule,
                                body: { status: rule.status === "active" ? "paused" : "active" },
                              })
                            }
                          >
                            {rule.status === "active" ? "Pause" : "Resume"}
                          </button>
                          <ConfirmButton
                            small
                            kind="danger"
                            label="Delete"
                            title={`Delete the rule ${rule.name}?`}
                            description="Its open alerts are resolved, and nothing more is alerted on by it. Past alerts keep its name and history."
                            onConfirm={() => change.mutate({ rule, body: null })}
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
        <RuleEditor rule={editing === "new" ? null : editing} onClose={() => setEditing(null)} />
      )}
    </>
  );
}

function RuleEditor({ rule, onClose }: { rule: Rule | null; onClose: () => void }) {
  const client = useQueryClient();
  const applications = useApplications();
  const channels = useAlertChannels();
  const [name, setName] = useState(rule?.name ?? "");
  const [applicationId, setApplicationId] = useState(rule?.applicationId ?? "");
  const chosenApplication = applicationId || applications.data?.[0]?.id || "";
  const [type, setType] = useState<ConditionType>(rule?.condition.type ?? "pipeline_failed");
  const [values, setValues] = useState<Record<string, string>>(() =>
    rule ? conditionValues(rule.condition) : conditionValues({ type: "pipeline_failed" }),
  );
  const [severity, setSeverity] = useState<Severity>((rule?.severity as Severity | undefined) ?? "warning");
  const [channelIds, setChannelIds] = useState<string[]>(rule?.channelIds ?? []);
  const [problem, setProblem] = useState<string | null>(null);
  // A rule tells channels of its own application.
  const choices = channels.data?.filter((c) => c.applicationId === chosenApplication) ?? [];
  const save = useMutation({
    mutationFn: (condition: Condition) => {
      const chosen = channelIds.filter((id) => choices.some((c) => c.id === id));
      return rule
        ? call(() =>
            api.PATCH("/api/alert-rules/{rule_id}", {
              params: { path: { rule_id: rule.id } },
              body: { name, condition, severity, channelIds: chosen },
            }),
          )
        : call(() =>
            api.POST("/api/alert-rules", {
              body: {
                applicationId: chosenApplication,
                name,
                condition,
                severity,
                channelIds: chosen,
                status: "active",
              },
            }),
          );
    },
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["alert-rules"] });
      onClose();
    },
    onError: (error) => setProblem(error.message),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = conditionFrom(type, values);
    if ("problem" in parsed) setProblem(parsed.problem);
    else {
      setProblem(null);
      save.mutate(parsed.condition);
    }
  };
  const label = "block text-sm";
  return (
    <Modal
      open
      onOpenChange={(open) => !open && onClose()}
      title={rule ? `Edit ${rule.name}` : "New alert rule"}
    >
      <form onSubmit={submit} className="space-y-3">
        <label className={label}>
          Name
          <input
            required
            maxLength={100}
            value={name}
            onChange={(e) => setName(e.target.value)}
            className={`${inputClass} mt-1 block w-full`}
          />
        </label>
        {!rule && (
          <label className={label}>
            Application
            <ApplicationSelect
              value={chosenApplication}
              onChange={setApplicationId}
              className="mt-1 block w-full"
            />
          </label>
        )}
        <label className={label}>
          Condition
          <select
            value={type}
            onChange={(e) => {
              const next = e.target.value as ConditionType;
              setType(next);
              setValues(conditionValues({ type: next }));
            }}
            className={`${inputClass} mt-1 block w-full`}
          >
            {CONDITIONS.map(([value, text]) => (
              <option key={value} value={value}>
                {text}
              </option>
            ))}
          </select>
        </label>
        <fieldset className="space-y-3 rounded border border-slate-200 p-3 dark:border-slate-700">
          <legend className="px-1 text-xs text-muted">Which (empty: any)</legend>
          {CONDITION_FIELDS[type].map((field) => (
            <label key={field.key} className={label}>
              {field.label}
              {field.type === "choice" ? (
                <select
                  value={values[field.key] ?? ""}
                  onChange={(e) => setValues({ ...values, [field.key]: e.target.value })}
                  className={`${inputClass} mt-1 block w-full`}
                >
                  <option value="">{field.placeholder}</option>
                  {field.options?.map((option) => (
                    <option key={option} value={option}>
                      {option}
                    </option>
                  ))}
                </select>
              ) : (
                <input
                  inputMode={field.type === "text" ? "text" : "numeric"}
                  required={field.required}
                  placeholder={field.placeholder}
                  value={values[field.key] ?? ""}
                  onChange={(e) => setValues({ ...values, [field.key]: e.target.value })}
                  className={`${inputClass} mt-1 block w-full ${field.type === "text" ? "font-mono" : ""}`}
                />
              )}
            </label>
          ))}
        </fieldset>
        <label className={label}>
          Severity
          <select
            value={severity}
            onChange={(e) => setSeverity(e.target.value as Severity)}
            className={`${inputClass} mt-1 block w-full`}
          >
            {SEVERITIES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <fieldset className="text-sm">
          <legend>Tell these channels</legend>
          {choices.length === 0 ? (
            <p className="mt-1 text-muted">
              The application has no channel yet (the Channels tab): its alerts are only listed here.
            </p>
          ) : (
            <ul className="mt-1 space-y-1">
              {choices.map((c) => (
                <li key={c.id}>
                  <label className="inline-flex items-center gap-2">
                    <input
                      type="checkbox"
                      checked={channelIds.includes(c.id)}
                      onChange={(e) =>
                        setChannelIds(
                          e.target.checked ? [...channelIds, c.id] : channelIds.filter((id) => id !== c.id),
                        )
                      }
                    />
                    {c.name} <span className="text-muted">({c.type})</span>
                  </label>
                </li>
              ))}
            </ul>
          )}
        </fieldset>
        <ErrorText error={problem} />
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className={buttonClass()} onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className={buttonClass("primary")} disabled={save.isPending}>
            {rule ? "Save" : "Create rule"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
