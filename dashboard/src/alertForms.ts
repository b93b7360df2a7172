// What each kind of alert condition and each type of channel is configured with, how a form's
// text becomes that, and how they read in a sentence. The API checks everything again
// (422 with the field named); secrets are written, never read back.
import type { Schemas } from "./api/client";

export type Condition = Schemas["AlertRuleCreate"]["condition"];
export type ConditionType = Condition["type"];
export type ChannelType = Schemas["AlertChannelCreate"]["type"];

type Field = {
  key: string;
  label: string;
  // text: kept as written (empty: left out); minutes: 1 to a week; count: 0 or more;
  // percent: 0 to 100, sent as a share (5 -> 0.05); choice: one of options (empty: left out).
  type: "text" | "minutes" | "count" | "percent" | "choice";
  required?: boolean;
  placeholder?: string;
  options?: string[];
};

export const CONDITIONS: Array<[ConditionType, string]> = [
  ["pipeline_failed", "A pipeline failed"],
  ["stage_failed", "A stage failed for good"],
  ["stage_pending", "Stages wait with no worker"],
  ["queue_backlog", "A queue backs up"],
  ["worker_lost", "A worker was lost holding jobs"],
  ["schedule_missed", "A schedule missed a run"],
  ["quality_failure_rate", "A quality check quarantines too much"],
  ["risk", "A stage or pipeline at risk (failures or duration against its history)"],
];

const ANY = "any";
const WEEK_MINUTES = 7 * 24 * 60;

export const CONDITION_FIELDS: Record<ConditionType, Field[]> = {
  pipeline_failed: [
    { key: "name", label: "Pipeline name", type: "text", placeholder: ANY },
    { key: "definitionId", label: "Definition id", type: "text", placeholder: ANY },
    { key: "keyword", label: "Keyword", type: "text", placeholder: ANY },
  ],
  stage_failed: [
    { key: "pipelineName", label: "Pipeline name", type: "text", placeholder: ANY },
    { key: "stage", label: "Stage", type: "text", placeholder: ANY },
    { key: "handler", label: "Handler", type: "text", placeholder: ANY },
  ],
  stage_pending: [
    { key: "minutes", label: "Waiting longer than (minutes)", type: "minutes", required: true },
    { key: "handler", label: "Handler", type: "text", placeholder: ANY },
    {
      key: "failAfterMinutes",
      label: "Fail the stage after (minutes)",
      type: "minutes",
      placeholder: "never",
    },
  ],
  queue_backlog: [
    { key: "above", label: "More than this many stages queued", type: "count", required: true },
    { key: "minutes", label: "For (minutes)", type: "count", placeholder: "5" },
    { key: "handler", label: "Handler", type: "text", placeholder: ANY },
  ],
  worker_lost: [{ key: "worker", label: "Worker name", type: "text", placeholder: ANY }],
  schedule_missed: [{ key: "schedule", label: "Schedule name", type: "text", placeholder: ANY }],
  quality_failure_rate: [
    { key: "above", label: "Quarantined rows above (%)", type: "percent", required: true },
    { key: "dataset", label: "Checked dataset", type: "text", placeholder: ANY },
  ],
  risk: [
    {
      key: "minSeverity",
      label: "At least",
      type: "choice",
      options: ["info", "warning", "critical"],
      placeholder: "warning",
    },
    {
      key: "signal",
      label: "Signal",
      type: "choice",
      options: ["failures", "duration"],
      placeholder: "either",
    },
    {
      key: "kind",
      label: "Of",
      type: "choice",
      options: ["stage", "pipeline"],
      placeholder: "stages and pipelines",
    },
    { key: "handler", label: "Handler (a stage's)", type: "text", placeholder: ANY },
    { key: "stage", label: "Stage", type: "text", placeholder: ANY },
    { key: "pipelineName", label: "Pipeline name (a pipeline's)", type: "text", placeholder: ANY },
  ],
};

/** The form's text of a condition, for editing it (every field of its type, "" when unset). */
export function conditionValues(
  condition: { type: string } & Record<string, unknown>,
): Record<string, string> {
  const fields = CONDITION_FIELDS[condition.type as ConditionType] ?? [];
  return Object.fromEntries(
    fields.map((field) => {
      const value = condition[field.key];
      if (value === undefined || value === null) return [field.key, ""];
      return [field.key, field.type === "percent" ? String(Number(value) * 100) : String(value)];
    }),
  );
}

/** The condition the form's text says, or what is wrong with it, naming the field. */
export function conditionFrom(
  type: ConditionType,
  values: Record<string, string>,
): { condition: Condition } | { problem: string } {
  const condition: Record<string, unknown> = { type };
  for (const field of CONDITION_FIELDS[type]) {
    const text = (values[field.key] ?? "").trim();
    if (!text) {
      if (field.required) return { problem: `${field.label}: required` };
      continue;
    }
    if (field.type === "text") {
      condition[field.key] = text;
      continue;
    }
    if (field.type === "choice") {
      if (!field.options?.includes(text))
        return { problem: `${field.label}: one of ${field.options?.join(", ")}` };
      condition[field.key] = text;
      continue;
    }
    if (field.type === "percent") {
      const percent = Number(text);
      if (!Number.isFinite(percent) || percent < 0 || percent > 100) {
        return { problem: `${field.label}: a number from 0 to 100` };
      }
      condition[field.key] = percent / 100;
      continue;
    }
    const value = Number(text);
    const least = field.type === "minutes" ? 1 : 0;
    const most = field.type === "minutes" ? WEEK_MINUTES : Number.MAX_SAFE_INTEGER;
    if (!Number.isInteger(value) || value < least || value > most) {
      return {
        problem:
          field.type === "minutes"
            ? `${field.label}: a whole number of minutes from 1 to ${WEEK_MINUTES} (a week)`
            : `${field.label}: a whole number, 0 or more`,
      };
    }
    condition[field.key] = value;
  }
  return { condition: condition as Condition };
}

const quoted = (value: unknown) => `“${String(value)}”`;

/** A condition in words: "pipeline “nightly” failed", "more than 100 stages of resize queued for 5 min". */
export function describeCondition(condition: { type: string } & Record<string, unknown>): string {
  const c = condition;
  switch (c.type) {
    case "pipeline_failed": {
      const parts = [c.name ? `pipeline ${quoted(c.name)} failed` : "any pipeline failed"];
      if (c.definitionId) parts.push(`run of definition ${String(c.definitionId).slice(0, 8)}`);
      if (c.keyword) parts.push(`keyword ${quoted(c.keyword)}`);
      return parts.join(", ");
    }
    case "stage_failed": {
      const stage = c.stage ? `stage ${quoted(c.stage)}` : "a stage";
      const of = c.pipelineName ? ` of ${quoted(c.pipelineName)}` : "";
      const handler = c.handler ? ` (handler ${quoted(c.handler)})` : "";
      return `${stage}${of}${handler} failed for good`;
    }
    case "stage_pending": {
      const handler = c.handler ? `stages of ${quoted(c.handler)}` : "stages";
      const fail = c.failAfterMinutes ? `; failed after ${String(c.failAfterMinutes)} min` : "";
      return `${handler} waited over ${String(c.minutes)} min with no worker${fail}`;
    }
    case "queue_backlog": {
      const handler = c.handler ? ` of ${quoted(c.handler)}` : "";
      return `more than ${String(c.above)} stages${handler} queued for ${String(c.minutes ?? 5)} min`;
    }
    case "worker_lost":
      return c.worker ? `worker ${quoted(c.worker)} lost holding jobs` : "a worker lost holding jobs";
    case "schedule_missed":
      return c.schedule ? `schedule ${quoted(c.schedule)} missed a run` : "a schedule missed a run";
    case "quality_failure_rate": {
      const dataset = c.dataset ? ` of ${quoted(c.dataset)}` : "";
      return `a quality check${dataset} quarantines over ${String(Number(c.above) * 100)}% of its rows`;
    }
    case "risk": {
      const what = c.signal === "duration" ? "runs slow" : c.signal === "failures" ? "fails" : "is at risk";
      const subject = c.pipelineName
        ? `pipeline ${quoted(c.pipelineName)}`
        : c.stage
          ? `stage ${quoted(c.stage)}`
          : c.handler
            ? `handler ${quoted(c.handler)}`
            : c.kind === "pipeline"
              ? "a pipeline"
              : c.kind === "stage"
                ? "a stage"
                : "a stage or pipeline";
      return `${subject} ${what} against its history (${String(c.minSeverity ?? "warning")} or worse)`;
    }
    default:
      return JSON.stringify(condition);
  }
}

// --- Channels

type ChannelField = {
  key: string;
  label: string;
  type: "text" | "url" | "email" | "port" | "list" | "flag" | "secret";
  required?: boolean;
  placeholder?: string;
};

export const CHANNELS: Array<[ChannelType, string]> = [
  ["webhook", "Webhook"],
  ["slack", "Slack"],
  ["email", "E-mail"],
];

// The secret fields ("secret" type) are sent, never shown: editing leaves them as they are
// unless something is typed in.
export const CHANNEL_FIELDS: Record<ChannelType, ChannelField[]> = {
  webhook: [
    { key: "url", label: "URL", type: "url", required: true, placeholder: "https://" },
    { key: "secret", label: "Signing secret (8 characters or more)", type: "secret", required: true },
  ],
  slack: [{ key: "url", label: "Incoming-webhook URL", type: "secret", required: true }],
  email: [
    { key: "host", label: "SMTP host", type: "text", required: true },
    { key: "port", label: "Port", type: "port", placeholder: "587" },
    { key: "sender", label: "From", type: "email", required: true },
    { key: "to", label: "To (comma-separated)", type: "list", required: true },
    { key: "starttls", label: "STARTTLS (refuse to send without it)", type: "flag" },
    { key: "username", label: "User", type: "text" },
    { key: "password", label: "Password", type: "secret" },
  ],
};

/** The form's text of a channel's config (its secrets stay empty), for editing it. */
export function channelValues(type: ChannelType, config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    CHANNEL_FIELDS[type].map((field) => {
      const value = config[field.key];
      if (field.type === "flag") return [field.key, value === false ? "false" : "true"];
      if (field.type === "secret" || value === undefined || value === null) return [field.key, ""];
      return [field.key, Array.isArray(value) ? value.join(", ") : String(value)];
    }),
  );
}

/**
 * The config the form's text says, or what is wrong with it. `editing`: a secret left empty
 * is left out, so the API keeps the one it has; when creating, a required one must be given.
 */
export function channelConfigFrom(
  type: ChannelType,
  values: Record<string, string>,
  editing: boolean,
): { config: Record<string, unknown> } | { problem: string } {
  const config: Record<string, unknown> = {};
  for (const field of CHANNEL_FIELDS[type]) {
    const raw = values[field.key] ?? "";
    const text = field.type === "secret" ? raw : raw.trim();
    if (field.type === "flag") {
      config[field.key] = text !== "false";
      continue;
    }
    if (!text) {
      if (field.required && !(editing && field.type === "secret"))
        return { problem: `${field.label}: required` };
      continue;
    }
    switch (field.type) {
      case "port": {
        const port = Number(text);
        if (!Number.isInteger(port) || port < 1 || port > 65535)
          return { problem: `${field.label}: a whole number from 1 to 65535` };
        config[field.key] = port;
        break;
      }
      case "list": {
        const items = text
          .split(",")
          .map((item) => item.trim())
          .filter(Boolean);
        if (items.length === 0) return { problem: `${field.label}: required` };
        config[field.key] = items;
        break;
      }
      case "url":
        if (!/^https?:\/\/\S+$/.test(text))
          return { problem: `${field.label}: an http:// or https:// address` };
        config[field.key] = text;
        break;
      default:
        config[field.key] = text;
    }
  }
  return { config };
}

/** Where a channel sends, as it may be shown: a Slack URL is its secret, so not that. */
export function channelTarget(channel: { type: string; config: Record<string, unknown> }): string {
  switch (channel.type) {
    case "webhook":
      return String(channel.config.url ?? "");
    case "email": {
      const to = Array.isArray(channel.config.to) ? channel.config.to.join(", ") : "";
      return `${to} via ${String(channel.config.host ?? "")}`;
    }
    case "slack":
      return "Slack incoming webhook";
    default:
      return "";
  }
}
