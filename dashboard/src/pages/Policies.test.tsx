import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi, users } from "../test/render";
import { Policies } from "./Policies";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const application = { id: "a1", name: "billing", displayName: "Billing", createdAt: "2026-01-01T00:00:00Z" };
const policy = {
  id: "p1",
  applicationId: "a1",
  name: "two-at-once",
  kind: "concurrency",
  target: { type: "handler", name: "resize" },
  config: { limit: 2 },
  status: "active",
  createdAt: "2026-01-01T00:00:00Z",
  updatedAt: "2026-01-01T00:00:00Z",
};

function api(role: keyof typeof users) {
  return stubApi({
    "GET /api/auth/me": () => answer(200, users[role]),
    "GET /api/applications": () => answer(200, [application]),
    "GET /api/policies": () => answer(200, { items: [policy] }),
    "POST /api/policies": async (request) =>
      answer(201, { ...policy, ...(await request.clone().json()), id: "p2" }),
    "PATCH /api/policies/p1": async (request) =>
      answer(200, { ...policy, ...(await request.clone().json()) }),
  });
}

describe("Policies", () => {
  it("shows an operator the policies, and nothing to change them with", async () => {
    api("operator");
    renderAt("/policies", "/policies", <Policies />);
    const row = await screen.findByText("at most 2 at once");
    expect(within(row.closest("tr") as HTMLElement).getByRole("button", { name: "History" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "New policy" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Pause" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Edit" })).toBeNull();
  });

  it("lets a developer pause a policy", async () => {
    const fetch = api("developer");
    renderAt("/policies", "/policies", <Policies />);
    fireEvent.click(await screen.findByRole("button", { name: "Pause" }));
    await vi.waitFor(() => expect(fetch.mock.calls.some(([r]) => r.method === "PATCH")).toBe(true));
    const patch = fetch.mock.calls.map(([r]) => r).find((r) => r.method === "PATCH");
    expect(await patch?.json()).toEqual({ status: "paused" });
  });

  it("checks the form before sending, then sends the config the form says", async () => {
    const fetch = api("developer");
    renderAt("/policies", "/policies", <Policies />);
    fireEvent.click(await screen.findByRole("button", { name: "New policy" }));
    const form = await screen.findByRole("dialog", { name: "New policy" });
    fireEvent.change(within(form).getByLabelText("Name"), { target: { value: "slow-down" } });
    fireEvent.change(within(form).getByLabelText("Kind"), { target: { value: "rate_limit" } });
    fireEvent.change(within(form).getByLabelText("Handler name"), { target: { value: "email" } });
    fireEvent.change(within(form).getByLabelText("Jobs started"), { target: { value: "1.5" } });
    fireEvent.change(within(form).getByLabelText("Per seconds"), { target: { value: "60" } });
    fireEvent.submit(within(form).getByRole("button", { name: "Create policy" }));
    expect((await within(form).findByRole("alert")).textContent).toBe(
      "Jobs started: a whole number, 0 or more",
    );
    expect(fetch.mock.calls.some(([r]) => r.method === "POST")).toBe(false);

    fireEvent.change(within(form).getByLabelText("Jobs started"), { target: { value: "10" } });
    fireEvent.submit(within(form).getByRole("button", { name: "Create policy" }));
    await vi.waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    const post = fetch.mock.calls.map(([r]) => r).find((r) => r.method === "POST");
    expect(await post?.json()).toEqual({
      applicationId: "a1",
      name: "slow-down",
      kind: "rate_limit",
      target: { type: "handler", name: "email" },
      config: { limit: 10, windowSeconds: 60 },
      status: "active",
    });
  });
});
