// A schedule's fields, for a new schedule (on a definition's page) and for changing one (there
// and on the Schedules page): its name, when it runs (cron times in a time zone, or every so
// many minutes), the version it runs, what it does after downtime, and its params, typed by
// the schema of the version it runs. The API checks them all again; the form catches what it
// can before sending, and shows the API's errors by the params they are about.
import { type FormEvent, useState } from "react";

import { Problem, type Schemas } from "../api/client";
import { fieldsOf, initialValues, paramsFrom, valuesOf, type Values } from "../paramsForm";
import { ParamFields } from "./ParamFields";
import { buttonClass, ErrorText, inputClass } from "./ui";

type Version = Schemas["DefinitionVersionView"];
type Schedule = Schemas["ScheduleView"];
type CatchUp = Schemas["ScheduleCreate"]["catchUp"];

/** The fields as the API names them; exactly one of `cron` and `intervalSeconds` is set. */
export type ScheduleFields = {
  name: string;
  cron: string | null;
  intervalSeconds: number | null;
  timezone: string;
  version: number | null;
  params: Record<string, unknown>;
  catchUp: CatchUp;
};

const MIN_INTERVAL_SECONDS = 10; // the API's bound

const label = "block text-sm";

export function ScheduleForm({
  published,
  schedule,
  submitLabel,
  pending,
  error,
  onSubmit,
  onCancel,
  autoFocus = false,
}: {
  /** The definition's published versions, newest first; there is at least one. */
  published: Version[];
  /** The schedule changed; none for a new one. */
  schedule?: Schedule;
  submitLabel: string;
  pending: boolean;
  error: Error | null;
  onSubmit: (fields: ScheduleFields) => void;
  onCancel: () => void;
  autoFocus?: boolean;
}) {
  const [name, setName] = useState(schedule?.name ?? "");
  const [kind, setKind] = useState<"cron" | "interval">(schedule?.intervalSeconds ? "interval" : "cron");
  const [cron, setCron] = useState(schedule?.cron ?? "0 9 * * *");
  const [minutes, setMinutes] = useState(
    schedule?.intervalSeconds ? String(schedule.intervalSeconds / 60) : "60",
  );
  const [timezone, setTimezone] = useState(
    () => schedule?.timezone ?? (Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"),
  );
  const [catchUp, setCatchUp] = useState<CatchUp>((schedule?.catchUp as CatchUp | undefined) ?? "skip");
  const [version, setVersion] = useState<number | null>(schedule?.version ?? null);
  const fieldsFor = (chosen: number | null) => {
    const runs = published.find((v) => v.version === chosen) ?? published[0];
    return fieldsOf(runs?.document.params as Record<string, unknown> | null);
  };
  const fields = fieldsFor(version);
  const [values, setValues] = useState<Values>(() =>
    schedule ? valuesOf(fields, schedule.params) : initialValues(fields),
  );
  const [problem, setProblem] = useState<string | null>(null);

  const chooseVersion = (chosen: number | null) => {
    setVersion(chosen);
    // What was typed stays; a param only the other version has starts at its default.
    setValues((typed) => ({ ...initialValues(fieldsFor(chosen)), ...typed }));
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    const read = paramsFrom(fields, values);
    if ("problem" in read) return setProblem(read.problem);
    const seconds = Math.round(Number(minutes) * 60);
    if (kind === "interval" && !(seconds >= MIN_INTERVAL_SECONDS)) {
      return setProblem(
        `Minutes between runs must be a number, at least ${MIN_INTERVAL_SECONDS} seconds' worth.`,
      );
    }
    setProblem(null);
    onSubmit({
      name,
      cron: kind === "cron" ? cron : null,
      intervalSeconds: kind === "interval" ? seconds : null,
      timezone,
      version,
      params: read.params,
      catchUp,
    });
  };
  return (
    <form
      onSubmit={submit}
      aria-label={schedule ? `change ${schedule.name}` : "new schedule"}
      className="space-y-3"
    >
      <label className={label}>
        Name
        <input
          required
          autoFocus={autoFocus}
          value={name}
          onChange={(e) => setName(e.target.value)}
          className={`${inputClass} mt-1 block w-full`}
        />
      </label>
      <fieldset className="flex gap-4 text-sm">
        <legend className="sr-only">How often</legend>
        <label className="flex items-center gap-1">
          <input type="radio" checked={kind === "cron"} onChange={() => setKind("cron")} /> At cron times
        </label>
        <label className="flex items-center gap-1">
          <input type="radio" checked={kind === "interval"} onChange={() => setKind("interval")} /> Every so
          often
        </label>
      </fieldset>
      {kind === "cron" ? (
        <div className="flex gap-2">
          <label className={`${label} flex-1`}>
            Cron expression
            <input
              required
              value={cron}
              onChange={(e) => setCron(e.target.value)}
              className={`${inputClass} mt-1 block w-full font-mono`}
            />
          </label>
          <label className={`${label} flex-1`}>
            Time zone
            <input
              required
              value={timezone}
              onChange={(e) => setTimezone(e.target.value)}
              className={`${inputClass} mt-1 block w-full`}
            />
          </label>
        </div>
      ) : (
        <label className={label}>
          Minutes between runs
          <input
            required
            inputMode="decimal"
            value={minutes}
            onChange={(e) => setMinutes(e.target.value)}
            className={`${inputClass} mt-1 block w-full`}
          />
        </label>
      )}
      <label className={label}>
        After downtime
        <select
          value={catchUp}
          onChange={(e) => setCatchUp(e.target.value as CatchUp)}
          className={`${inputClass} mt-1 block w-full`}
        >
          <option value="skip">skip the runs missed</option>
          <option value="once">run once for the runs missed</option>
        </select>
      </label>
      <VersionSelect published={published} value={version} onChange={chooseVersion} />
      <ParamFields
        fields={fields}
        values={values}
        onChange={setValues}
        // A refused schedule (422 invalid_params) names the path of each param it could not take.
        errors={error instanceof Problem ? (error.errors as Array<{ path?: string; message?: string }>) : []}
      />
      <ErrorText error={problem ?? error} />
      <div className="flex justify-end gap-2">
        <button type="button" className={buttonClass()} onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" className={buttonClass("primary")} disabled={pending}>
          {submitLabel}
        </button>
      </div>
    </form>
  );
}

/** The newest published version at each run (no value), or always one version. */
function VersionSelect({
  published,
  value,
  onChange,
}: {
  published: Version[];
  value: number | null;
  onChange: (version: number | null) => void;
}) {
  // A version pinned once and archived since is still what the schedule says: shown as such.
  const gone = value !== null && !published.some((v) => v.version === value);
  return (
    <label className={label}>
      Version
      <select
        value={value ?? ""}
        onChange={(e) => onChange(e.target.value ? Number(e.target.value) : null)}
        className={`${inputClass} mt-1 block w-full`}
      >
        <option value="">the newest published at each run (now v{published[0]?.version})</option>
        {published.map((v) => (
          <option key={v.version} value={v.version}>
            always v{v.version}
          </option>
        ))}
        {gone && <option value={value}>always v{value} (no longer published)</option>}
      </select>
    </label>
  );
}
