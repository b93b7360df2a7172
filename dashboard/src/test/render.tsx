// For component tests: a stand-in for the API (fetch answers by method and path) and a
// render with the providers every page needs.
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter, Route, Routes } from "react-router";
import { vi } from "vitest";

export function answer(status: number, body: unknown): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": status < 400 ? "application/json" : "application/problem+json" },
  });
}

type Routes = Record<string, (request: Request) => Response | Promise<Response>>;

/** fetch answering "GET /api/..." keys (paths without the query); anything else is a 404. */
export function stubApi(routes: Routes) {
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url);
    const handler = routes[`${request.method} ${url.pathname}`];
    return handler ? handler(request) : answer(404, { code: "not_found", detail: url.pathname });
  });
  vi.stubGlobal("fetch", fetch);
  return fetch;
}

export const users = {
  admin: { id: "u1", email: "root@example.com", name: "Root", role: "admin", mustChangePassword: false },
  developer: {
    id: "u2",
    email: "dev@example.com",
    name: "Dev",
    role: "developer",
    mustChangePassword: false,
  },
  operator: { id: "u3", email: "op@example.com", name: "Op", role: "operator", mustChangePassword: false },
};

export function renderAt(path: string, pattern: string, element: ReactElement) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path={pattern} element={element} />
          <Route path="*" element={<p>elsewhere</p>} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  );
}
