// Alert channels, on the Alerts page: where an application's alerts are sent (a signed
// webhook, Slack, e-mail). Everyone sees them, never their secrets; admins and developers add,
// edit, test and delete them. A secret is written, never read back: editing keeps it unless a
// new one is typed in.
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";

import {
  CHANNEL_FIELDS,
  channelConfigFrom,
  channelTarget,
  channelValues,
  CHANNELS,
  type ChannelType,
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
import { useAlertChannels, useApplications } from "../queries";
import { useMe } from "../session";

type Channel = Schemas["AlertChannelView"];

export function AlertChannels() {
  const role = useMe().data?.role;
  const channels = useAlertChannels();
  const [editing, setEditing] = useState<Channel | "new" | null>(null);
  const manager = may(role, "manage_alerts");
  return (
    <>
      {manager && (
        <button className={`${buttonClass("primary")} mb-3`} onClick={() => setEditing("new")}>
          New channel
        </button>
      )}
      <Loaded query={channels} what="the alert channels" rows={3}>
        {(list) =>
          list.length === 0 ? (
            <Empty>
              No channels. A channel is where alerts are sent: a webhook (signed with its secret), a Slack
              incoming webhook, or e-mail.
            </Empty>
          ) : (
            <Table
              columns={[
                "Name",
                "Application",
                "Type",
                "Sends to",
                "Secret",
                { label: "Per minute", className: "text-right" },
                { label: "Actions", hidden: true },
              ]}
              minWidth="60rem"
              className="[&_td:not(:last-child)]:pr-3 [&_th:not(:last-child)]:pr-3"
            >
              <tbody>
                {list.map((channel) => (
                  <ChannelRow
                    key={channel.id}
                    channel={channel}
                    manager={manager}
                    onEdit={() => setEditing(channel)}
                  />
                ))}
              </tbody>
            </Table>
          )
        }
      </Loaded>
      {editing !== null && (
        <ChannelEditor channel={editing === "new" ? null : editing} onClose={() => setEditing(null)} />
      )}
    </>
  );
}

function ChannelRow({
  channel: c,
  manager,
  onEdit,
}: {
  channel: Channel;
  manager: boolean;
  onEdit: () => void;
}) {
  const client = useQueryClient();
  const path = { params: { path: { channel_id: c.id } } };
  const test = useMutation({
    mutationFn: () => call(() => api.POST("/api/alert-channels/{channel_id}/test", path)),
  });
  const remove = useMutation({
    mutationFn: () => call(() => api.DELETE("/api/alert-channels/{channel_id}", path)),
    onSuccess: () => void client.invalidateQueries({ queryKey: ["alert-channels"] }),
  });
  return (
    <>
      <tr data-alert-channel={c.name} className="border-b border-slate-100 align-top dark:border-slate-800">
        <td className="py-2 font-medium">{c.name}</td>
        <td className="py-2">{c.applicationName}</td>
        <td className="py-2">{c.type}</td>
        <td className="max-w-xs py-2 font-mono text-xs break-all">{channelTarget(c)}</td>
        <td className="py-2">{c.hasSecret ? "set" : "none"}</td>
        <td className="py-2 text-right tabular-nums">{c.rateLimitPerMinute}</td>
        <td className="space-x-2 py-2 text-right whitespace-nowrap">
          {manager && (
            <>
              <button
                className={buttonClass("default", true)}
                onClick={() => test.mutate()}
                disabled={test.isPending}
              >
                Send a test
              </button>
              <button className={buttonClass("default", true)} onClick={onEdit}>
                Edit
              </button>
              <ConfirmButton
                small
                kind="danger"
                label="Delete"
                title={`Delete the channel ${c.name}?`}
                description="Nothing more is sent to it. A channel that rules still send to is kept: take it out of them first."
                onConfirm={() => remove.mutate()}
              />
            </>
          )}
        </td>
      </tr>
      {(test.isPending || test.data || test.error || remove.error) && (
        <tr>
          <td colSpan={7} className="pb-3 text-sm">
            {test.isPending && <p role="status">Sending a test to {c.name}…</p>}
            {test.data &&
              (test.data.ok ? (
                <p role="status" data-test-result="ok" className="text-green-800 dark:text-green-300">
                  Test sent: {test.data.detail}, in {test.data.latencyMs} ms.
                </p>
              ) : (
                <p role="alert" data-test-result="failed" className="text-red-700 dark:text-red-300">
                  The test was not taken: {test.data.detail} (after {test.data.latencyMs} ms).
                </p>
              ))}
            <ErrorText error={test.error ?? remove.error} />
          </td>
        </tr>
      )}
    </>
  );
}

function ChannelEditor({ channel, onClose }: { channel: Channel | null; onClose: () => void }) {
  const client = useQueryClient();
  const applications = useApplications();
  const [name, setName] = useState(channel?.name ?? "");
  const [applicationId, setApplicationId] = useState(channel?.applicationId ?? "");
  const chosenApplication = applicationId || applications.data?.[0]?.id || "";
  const [type, setType] = useState<ChannelType>((channel?.type as ChannelType | undefined) ?? "webhook");
  const [values, setValues] = useState<Record<string, string>>(() =>
    channelValues(type, channel?.config ?? {}),
  );
  const [rate, setRate] = useState(String(channel?.rateLimitPerMinute ?? 10));
  const [problem, setProblem] = useState<string | null>(null);
  const save = useMutation({
    mutationFn: ({
      config,
      rateLimitPerMinute,
    }: {
      config: Record<string, unknown>;
      rateLimitPerMinute: number;
    }) =>
      channel
        ? call(() =>
            api.PATCH("/api/alert-channels/{channel_id}", {
              params: { path: { channel_id: channel.id } },
              body: { config, rateLimitPerMinute },
            }),
          )
        : call(() =>
            api.POST("/api/alert-channels", {
              body: { applicationId: chosenApplication, name, type, config, rateLimitPerMinute },
            }),
          ),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ["alert-channels"] });
      onClose();
    },
    onError: (error) => setProblem(error.message),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const parsed = channelConfigFrom(type, values, channel !== null);
    const limit = Number(rate);
    if ("problem" in parsed) setProblem(parsed.problem);
    else if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      setProblem("Messages per minute: a whole number from 1 to 1000");
    else {
      setProblem(null);
      save.mutate({ config: parsed.config, rateLimitPerMinute: limit });
    }
  };
  const label = "block text-sm";
  const set = (key: string, value: string) => setValues({ ...values, [key]: value });
  return (
    <Modal
      open
      onOpenChange={(open) => !open && onClose()}
      title={channel ? `Edit ${channel.name}` : "New alert channel"}
    >
      <form onSubmit={submit} className="space-y-3">
        {!channel && (
          <>
            <label className={label}>
              Name
              <input
                required
                maxLength={100}
                aria-describedby="channel-name-rule"
                value={name}
                onChange={(e) => setName(e.target.value)}
                className={`${inputClass} mt-1 block w-full font-mono`}
              />
            </label>
            <p id="channel-name-rule" className="-mt-2 text-xs text-muted">
              Letters, digits and _ . - (no spaces)
            </p>
            <label className={label}>
              Application
              <ApplicationSelect
                value={chosenApplication}
                onChange={setApplicationId}
                className="mt-1 block w-full"
              />
            </label>
            <label className={label}>
              Type
              <select
                value={type}
                onChange={(e) => {
                  const next = e.target.value as ChannelType;
                  setType(next);
                  setValues(channelValues(next, {}));
                }}
                className={`${inputClass} mt-1 block w-full`}
              >
                {CHANNELS.map(([value, text]) => (
                  <option key={value} value={value}>
                    {text}
                  </option>
                ))}
              </select>
            </label>
          </>
        )}
        {CHANNEL_FIELDS[type].map((field) =>
          field.type === "flag" ? (
            <label key={field.key} className="flex items-center gap-2 text-sm">
              <input
                type="checkbox"
                checked={values[field.key] !== "false"}
                onChange={(e) => set(field.key, e.target.checked ? "true" : "false")}
              />
              {field.label}
            </label>
          ) : (
            <label key={field.key} className={label}>
              {field.label}
              <input
                type={
                  field.type === "secret"
                    ? "password"
                    : field.type === "port"
                      ? "number"
                      : field.type === "url"
                        ? "url"
                        : "text"
                }
                required={field.required && !(channel && field.type === "secret")}
                // Never shown: when editing, empty keeps the secret the channel has.
                placeholder={field.type === "secret" && channel?.hasSecret ? "unchanged" : field.placeholder}
                autoComplete={field.type === "secret" ? "new-password" : "off"}
                value={values[field.key] ?? ""}
                onChange={(e) => set(field.key, e.target.value)}
                className={`${inputClass} mt-1 block w-full`}
              />
            </label>
          ),
        )}
        <label className={label}>
          Messages per minute, at most (more are sent as one digest)
          <input
            type="number"
            min={1}
            max={1000}
            value={rate}
            onChange={(e) => setRate(e.target.value)}
            className={`${inputClass} mt-1 block w-32`}
          />
        </label>
        <ErrorText error={problem} />
        <div className="flex justify-end gap-2 pt-2">
          <button type="button" className={buttonClass()} onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className={buttonClass("primary")} disabled={save.isPending}>
            {channel ? "Save" : "Create channel"}
          </button>
        </div>
      </form>
    </Modal>
  );
}
