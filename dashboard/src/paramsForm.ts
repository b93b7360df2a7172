// The form that starts a run of a pipeline definition, built from its params' JSON Schema:
// a field per top-level property, typed by the schema, and the values turned back into JSON.
// The API checks the params against the whole schema and names each error's path; the form
// only gets the types right.

export type FieldKind = "text" | "date" | "number" | "integer" | "boolean" | "choice" | "json";

export interface ParamField {
  name: string;
  label: string;
  description?: string;
  kind: FieldKind;
  required: boolean;
  options?: string[];
  // The schema's default, as the form shows it.
  initial: string | boolean;
}

type Schema = Record<string, unknown>;

function kindOf(property: Schema): FieldKind {
  if (Array.isArray(property.enum) && property.enum.every((v) => typeof v === "string")) return "choice";
  switch (property.type) {
    case "string":
      return property.format === "date" ? "date" : "text";
    case "number":
      return "number";
    case "integer":
      return "integer";
    case "boolean":
      return "boolean";
    default:
      return "json"; // objects, arrays, unions: written as JSON
  }
}

function shown(kind: FieldKind, value: unknown): string | boolean {
  if (kind === "boolean") return value === true;
  if (value === undefined || value === null) return "";
  if (kind === "json") return JSON.stringify(value);
  return String(value);
}

export function fieldsOf(schema: Schema | null | undefined): ParamField[] {
  const properties = (schema?.properties ?? {}) as Record<string, Schema>;
  const required = new Set(Array.isArray(schema?.required) ? (schema.required as string[]) : []);
  return Object.entries(properties).map(([name, property]) => {
    const kind = kindOf(property);
    return {
      name,
      label: typeof property.title === "string" ? property.title : name,
      description: typeof property.description === "string" ? property.description : undefined,
      kind,
      required: required.has(name),
      options: kind === "choice" ? (property.enum as string[]) : undefined,
      initial: shown(kind, property.default),
    };
  });
}

export type Values = Record<string, string | boolean>;

export function initialValues(fields: ParamField[]): Values {
  return Object.fromEntries(fields.map((field) => [field.name, field.initial]));
}

/** The values of params already chosen (a schedule's, say), as the form shows them; a field
 * they leave out shows the schema's default. */
export function valuesOf(fields: ParamField[], params: Record<string, unknown>): Values {
  return Object.fromEntries(
    fields.map((field) => [
      field.name,
      field.name in params ? shown(field.kind, params[field.name]) : field.initial,
    ]),
  );
}

/** The params as JSON, or the first field that cannot be read. An empty optional field is
 * left out, so that the schema's default applies. */
export function paramsFrom(
  fields: ParamField[],
  values: Values,
): { params: Record<string, unknown> } | { problem: string } {
  const params: Record<string, unknown> = {};
  for (const field of fields) {
    const value = values[field.name];
    if (field.kind === "boolean") {
      params[field.name] = value === true;
      continue;
    }
    const text = typeof value === "string" ? value.trim() : "";
    if (text === "") {
      if (field.required) return { problem: `${field.label} is required` };
      continue;
    }
    if (field.kind === "number" || field.kind === "integer") {
      const number = Number(text);
      if (!Number.isFinite(number) || (field.kind === "integer" && !Number.isInteger(number))) {
        return {
          problem: `${field.label} must be ${field.kind === "integer" ? "a whole number" : "a number"}`,
        };
      }
      params[field.name] = number;
    } else if (field.kind === "json") {
      try {
        params[field.name] = JSON.parse(text);
      } catch {
        return { problem: `${field.label} must be JSON` };
      }
    } else {
      params[field.name] = text;
    }
  }
  return { params };
}
