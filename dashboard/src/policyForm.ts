// What each kind of policy is configured with, how a form's text becomes that config, and
// how a config reads in a sentence. The API checks the config again (422 invalid_policy_config).

export type Kind = "retry" | "timeout" | "concurrency" | "rate_limit" | "operator_input";
export const KINDS: Array<[Kind, string]> = [
  ["concurrency", "Concurrency limit"],
  ["rate_limit", "Rate limit"],
  ["retry", "Retries"],
  ["timeout", "Timeout"],
  ["operator_input", "Operators may rerun with a new input"],
];

type Field = {
  key: string;
  label: string;
  type: "integer" | "seconds" | "choice" | "codes";
  required?: boolean;
  options?: string[];
};

export const FIELDS: Record<Kind, Field[]> = {
  concurrency: [{ key: "limit", label: "At most this many at once", type: "integer", required: true }],
  rate_limit: [
    { key: "limit", label: "Jobs started", type: "integer", required: true },
    { key: "windowSeconds", label: "Per seconds", type: "seconds", required: true },
  ],
  retry: [
    { key: "maxRetries", label: "Retries", type: "integer", required: true },
    { key: "backoff", label: "Backoff", type: "choice", options: ["exponential", "fixed"] },
    { key: "backoffSeconds", label: "First wait (seconds)", type: "seconds" },
    { key: "maxBackoffSeconds", label: "Longest wait (seconds)", type: "seconds" },
    { key: "retryOn", label: "Only for these error codes (comma-separated)", type: "codes" },
  ],
  timeout: [{ key: "seconds", label: "Seconds", type: "seconds", required: true }],
  // Nothing to set: the policy being active is what allows it.
  operator_input: [],
};

/** The form's text of a config, for editing it. */
export function valuesOf(kind: Kind, config: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    FIELDS[kind].map((field) => {
      const value = config[field.key];
      if (value === undefined || value === null) return [field.key, ""];
      return [field.key, Array.isArray(value) ? value.join(", ") : String(value)];
    }),
  );
}

/** The config the form's text says, or what is wrong with it, naming the field. */
export function configFrom(
  kind: Kind,
  values: Record<string, string>,
): { config: Record<string, unknown> } | { problem: string } {
  const config: Record<string, unknown> = {};
  for (const field of FIELDS[kind]) {
    const text = (values[field.key] ?? "").trim();
    if (!text) {
      if (field.required) return { problem: `${field.label}: required` };
      continue;
    }
    switch (field.type) {
      case "integer": {
        const value = Number(text);
        if (!Number.isInteger(value) || value < 0)
          return { problem: `${field.label}: a whole number, 0 or more` };
        config[field.key] = value;
        break;
      }
      case "seconds": {
        const value = Number(text);
        if (!Number.isFinite(value) || value <= 0)
          return { problem: `${field.label}: a number of seconds above 0` };
        config[field.key] = value;
        break;
      }
      case "choice":
        config[field.key] = text;
        break;
      case "codes":
        config[field.key] = text
          .split(",")
          .map((code) => code.trim())
          .filter(Boolean);
        break;
    }
  }
  return { config };
}

const plural = (n: unknown, one: string, many: string) => `${String(n)} ${n === 1 ? one : many}`;

/** A config in words: "at most 2 at once", "10 per 60 s". */
export function describe(kind: string, config: Record<string, unknown>): string {
  switch (kind) {
    case "concurrency":
      return `at most ${String(config.limit)} at once`;
    case "rate_limit":
      return `${String(config.limit)} per ${String(config.windowSeconds)} s`;
    case "timeout":
      return `stopped after ${String(config.seconds)} s`;
    case "operator_input":
      return "operators may rerun with a new input";
    case "retry": {
      const parts = [plural(config.maxRetries, "retry", "retries")];
      if (config.backoff) parts.push(`${String(config.backoff)} backoff`);
      if (config.backoffSeconds) parts.push(`from ${String(config.backoffSeconds)} s`);
      if (Array.isArray(config.retryOn) && config.retryOn.length)
        parts.push(`on ${config.retryOn.join(", ")}`);
      return parts.join(", ");
    }
    default:
      return JSON.stringify(config);
  }
}
