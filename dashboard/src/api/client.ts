// The typed client of the internal API, generated from its OpenAPI document
// (`just dashboard-types`): a path, method or field the API does not have is a type error.
import createClient, { type Middleware } from "openapi-fetch";

import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

/** A problem document (RFC 9457) the API answered with; `code` is stable, `detail` is for people. */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    // Each problem of a refused document or form: {path, message, line?, column?}.
    readonly errors: unknown[] = [],
  ) {
    super(detail);
  }
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export function cookie(name: string): string | undefined {
  return document.cookie
    .split("; ")
    .find((part) => part.startsWith(`${name}=`))
    ?.slice(name.length + 1);
}

// Unsafe requests echo the CSRF cookie (double submit), as the API asks.
const csrf: Middleware = {
  onRequest({ request }) {
    const token = cookie("plq_csrf");
    if (UNSAFE.has(request.method) && token) request.headers.set("X-CSRF-Token", token);
    return request;
  },
};

// fetch is looked up at each call (not once, at import), so a test can stand in for it.
export const api = createClient<paths>({
  baseUrl: window.location.origin,
  fetch: (request) => globalThis.fetch(request),
});
api.use(csrf);

let refreshing: Promise<boolean> | null = null;

/** One refresh at a time, however many requests found the access token expired. */
function refresh(): Promise<boolean> {
  refreshing ??= fetch("/api/auth/refresh", { method: "POST" })
    .then((response) => response.ok)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

type Answer<T> = { data?: T; error?: unknown; response: Response };

/** The data of an answer, or a Problem; an expired access token is refreshed once. */
export async function call<T>(request: () => Promise<Answer<T>>): Promise<T> {
  let answer = await request();
  if (answer.response.status === 401 && problemCode(answer.error) === "token_expired") {
    if (await refresh()) answer = await request();
  }
  if (answer.error !== undefined || !answer.response.ok) {
    const error = (answer.error ?? {}) as { code?: string; detail?: string; errors?: unknown };
    throw new Problem(
      answer.response.status,
      error.code ?? "unknown",
      error.detail ?? answer.response.statusText,
      Array.isArray(error.errors) ? error.errors : [],
    );
  }
  return answer.data as T;
}

function problemCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error
    ? String((error as { code: unknown }).code)
    : undefined;
}
