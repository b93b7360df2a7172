// The fields of a run's params, typed by the definition's schema (see paramsForm.ts), with the
// errors the API found next to the field they are about.
import { inputClass } from "./ui";
import type { ParamField, Values } from "../paramsForm";

export function ParamFields({
  fields,
  values,
  onChange,
  errors = [],
}: {
  fields: ParamField[];
  values: Values;
  onChange: (values: Values) => void;
  errors?: Array<{ path?: string; message?: string }>;
}) {
  if (fields.length === 0) return <p className="text-sm text-muted">This definition takes no params.</p>;
  return (
    <>
      {fields.map((field) => {
        const error = errors.find((e) => e.path === `params.${field.name}`);
        return (
          <label key={field.name} className="block text-sm">
            {field.label}
            {field.required && <span aria-hidden> *</span>}
            {field.kind === "boolean" ? (
              <input
                type="checkbox"
                checked={values[field.name] === true}
                onChange={(e) => onChange({ ...values, [field.name]: e.target.checked })}
                className="ml-2"
              />
            ) : field.kind === "choice" ? (
              <select
                required={field.required}
                value={String(values[field.name] ?? "")}
                onChange={(e) => onChange({ ...values, [field.name]: e.target.value })}
                className={`${inputClass} mt-1 block w-full`}
              >
                <option value="">—</option>
                {field.options?.map((option) => (
                  <option key={option}>{option}</option>
                ))}
              </select>
            ) : (
              <input
                type={field.kind === "date" ? "date" : "text"}
                inputMode={field.kind === "number" || field.kind === "integer" ? "decimal" : undefined}
                required={field.required}
                value={String(values[field.name] ?? "")}
                onChange={(e) => onChange({ ...values, [field.name]: e.target.value })}
                className={`${inputClass} mt-1 block w-full ${field.kind === "json" ? "font-mono" : ""}`}
              />
            )}
            {field.description && <span className="block text-xs text-muted">{field.description}</span>}
            {error && <span className="block text-xs text-red-700 dark:text-red-400">{error.message}</span>}
          </label>
        );
      })}
    </>
  );
}
