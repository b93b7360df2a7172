import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router";
import { afterEach, describe, expect, it, vi } from "vitest";

import { Login } from "./Login";

function answer(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": status < 400 ? "application/json" : "application/problem+json" },
  });
}

function renderLogin() {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <MemoryRouter>
        <Login />
      </MemoryRouter>
    </QueryClientProvider>,
  );
}

async function logIn() {
  fireEvent.change(await screen.findByLabelText("Email"), { target: { value: "a@b.c" } });
  fireEvent.change(screen.getByLabelText("Password"), { target: { value: "secret" } });
  fireEvent.click(screen.getByRole("button", { name: "Log in" }));
}

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

describe("Login", () => {
  it.each([
    ["invalid_credentials", 401, "Wrong email or password."],
    ["login_throttled", 429, "Too many failed attempts. Wait a moment, then try again."],
  ])("says what a %s answer means", async (code, status, message) => {
    const fetch = vi.fn(async (request: Request) =>
      request.url.endsWith("/api/auth/me")
        ? answer(401, { code: "not_authenticated", detail: "log in first" })
        : answer(status, { code, detail: "refused" }),
    );
    vi.stubGlobal("fetch", fetch);
    renderLogin();
    await logIn();
    expect((await screen.findByRole("alert")).textContent).toBe(message);
    const login = fetch.mock.calls.map(([request]) => request).find((r) => r.url.endsWith("/login"));
    expect(await login?.json()).toEqual({ email: "a@b.c", password: "secret" });
  });
});
