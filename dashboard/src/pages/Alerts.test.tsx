import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi, users } from "../test/render";
import { AlertDetail } from "./AlertDetail";
import { Alerts } from "./Alerts";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const at = "2026-03-01T08:00:00Z";
const application = { id: "a1", name: "shop", displayName: "Shop", createdAt: at };
const alert = {
  id: "al1",
  applicationId: "a1",
  applicationName: "shop",
  ruleId: "r1",
  ruleName: "nightly failures",
  conditionType: "pipeline_failed",
  severity: "critical",
  subjectKind: "pipeline",
  subjectKey: "nightly",
  subjectName: "nightly",
  status: "firing",
  summary: "pipeline nightly failed at stage load: connection refused",
  details: { pipelineId: "p1", stage: "load", error: "connection refused" },
  occurrences: 2,
  openedAt: at,
  lastSeenAt: at,
  acknowledgedAt: null,
  acknowledgedBy: null,
  resolvedAt: null,
  resolvedBy: null,
};
const channel = {
  id: "c1",
  applicationId: "a1",
  applicationName: "shop",
  name: "ops-hook",
  type: "webhook",
  config: { url: "https://hooks.example.com/in" },
  hasSecret: true,
  rateLimitPerMinute: 10,
  createdAt: at,
  updatedAt: at,
};
const rule = {
  id: "r1",
  applicationId: "a1",
  applicationName: "shop",
  name: "nightly failures",
  condition: { type: "pipeline_failed", name: "nightly" },
  severity: "critical",
  channelIds: ["c1"],
  status: "active",
  createdBy: "dev@example.com",
  createdAt: at,
  updatedAt: at,
};

function api(role: keyof typeof users, extra: Parameters<typeof stubApi>[0] = {}) {
  return stubApi({
    "GET /api/auth/me": () => answer(200, users[role]),
    "GET /api/applications": () => answer(200, [application]),
    "GET /api/alerts": () => answer(200, { items: [alert], nextBefore: null }),
    "GET /api/alert-rules": () => answer(200, [rule]),
    "GET /api/alert-channels": () => answer(200, [channel]),
    ...extra,
  });
}

const sent = async (fetch: ReturnType<typeof stubApi>, method: string, path: string) => {
  await vi.waitFor(() =>
    expect(fetch.mock.calls.some(([r]) => r.method === method && new URL(r.url).pathname === path)).toBe(
      true,
    ),
  );
  const request = fetch.mock.calls
    .map(([r]) => r)
    .find((r) => r.method === method && new URL(r.url).pathname === path);
  return (await request?.json()) as unknown;
};

describe("Alerts", () => {
  it("lists the open alerts, and acknowledges one with a note", async () => {
    const fetch = api("operator", {
      "POST /api/alerts/al1/acknowledge": () => answer(200, { ...alert, status: "acknowledged" }),
    });
    renderAt("/alerts", "/alerts", <Alerts />);
    const row = await screen.findByRole("row", { name: /nightly failures/ });
    expect(within(row).getByText("critical")).toBeTruthy();
    expect(within(row).getByText("firing")).toBeTruthy();
    expect(within(row).getByRole("link", { name: "nightly" }).getAttribute("href")).toBe("/alerts/al1");
    expect(within(row).getByText(alert.summary)).toBeTruthy();
    // Open ones, unless another status is chosen.
    const list = fetch.mock.calls.map(([r]) => new URL(r.url)).find((u) => u.pathname === "/api/alerts");
    expect(list?.searchParams.get("status")).toBe("open");

    fireEvent.click(within(row).getByRole("button", { name: "Acknowledge" }));
    const dialog = await screen.findByRole("dialog", { name: "Acknowledge this alert?" });
    fireEvent.change(within(dialog).getByLabelText(/Note/), { target: { value: "on it" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Acknowledge" }));
    expect(await sent(fetch, "POST", "/api/alerts/al1/acknowledge")).toEqual({ note: "on it" });
    await vi.waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
  });

  it("sets the names a risk's summary quotes as code, not as backticks", async () => {
    const risky = { ...alert, summary: "`load` (echo) fails 29% of attempts in the last hour, up from 1%." };
    api("operator", { "GET /api/alerts": () => answer(200, { items: [risky], nextBefore: null }) });
    renderAt("/alerts", "/alerts", <Alerts />);
    const row = await screen.findByRole("row", { name: /nightly failures/ });
    expect(within(row).getByText("load").tagName).toBe("CODE");
    expect(row.textContent).toContain("load (echo) fails 29% of attempts");
    expect(row.textContent).not.toContain("`");
  });

  it("resolves only once the dialog is confirmed, the note left out when empty", async () => {
    const fetch = api("operator", {
      "POST /api/alerts/al1/resolve": () => answer(200, { ...alert, status: "resolved" }),
    });
    renderAt("/alerts", "/alerts", <Alerts />);
    const row = await screen.findByRole("row", { name: /nightly failures/ });
    fireEvent.click(within(row).getByRole("button", { name: "Resolve" }));
    const dialog = await screen.findByRole("dialog", { name: "Resolve this alert?" });
    expect(fetch.mock.calls.some(([r]) => r.method === "POST")).toBe(false);
    fireEvent.click(within(dialog).getByRole("button", { name: "Resolve" }));
    expect(await sent(fetch, "POST", "/api/alerts/al1/resolve")).toEqual({ note: null });
  });

  it("shows an operator the rules and channels, and nothing to change them with", async () => {
    api("operator");
    renderAt("/alerts?tab=rules", "/alerts", <Alerts />);
    const ruleRow = await screen.findByRole("row", { name: /pipeline “nightly” failed/ });
    expect(within(ruleRow).getByText("ops-hook")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "New rule" })).toBeNull();
    expect(within(ruleRow).queryByRole("button")).toBeNull();

    fireEvent.mouseDown(screen.getByRole("tab", { name: "Channels" }));
    const channelRow = await screen.findByRole("row", { name: /ops-hook/ });
    expect(within(channelRow).getByText("https://hooks.example.com/in")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "New channel" })).toBeNull();
    expect(within(channelRow).queryByRole("button")).toBeNull();
  });

  it("lets a developer create a rule from the condition's form, telling a channel", async () => {
    const fetch = api("developer", {
      "POST /api/alert-rules": () => answer(201, { ...rule, id: "r2" }),
    });
    renderAt("/alerts?tab=rules", "/alerts", <Alerts />);
    fireEvent.click(await screen.findByRole("button", { name: "New rule" }));
    const form = await screen.findByRole("dialog", { name: "New alert rule" });
    fireEvent.change(within(form).getByLabelText("Name"), { target: { value: "slow queue" } });
    fireEvent.change(within(form).getByLabelText("Condition"), { target: { value: "queue_backlog" } });
    fireEvent.change(within(form).getByLabelText("Handler"), { target: { value: "resize" } });
    fireEvent.change(within(form).getByLabelText("Severity"), { target: { value: "info" } });
    fireEvent.click(await within(form).findByRole("checkbox", { name: /ops-hook/ }));
    fireEvent.submit(within(form).getByRole("button", { name: "Create rule" }));
    expect((await within(form).findByRole("alert")).textContent).toBe(
      "More than this many stages queued: required",
    );
    fireEvent.change(within(form).getByLabelText("More than this many stages queued"), {
      target: { value: "100" },
    });
    fireEvent.submit(within(form).getByRole("button", { name: "Create rule" }));
    expect(await sent(fetch, "POST", "/api/alert-rules")).toEqual({
      applicationId: "a1",
      name: "slow queue",
      condition: { type: "queue_backlog", above: 100, handler: "resize" },
      severity: "info",
      channelIds: ["c1"],
      status: "active",
    });
  });

  it("pauses a rule, and deletes one once confirmed", async () => {
    const fetch = api("developer", {
      "PATCH /api/alert-rules/r1": () => answer(200, { ...rule, status: "paused" }),
      "DELETE /api/alert-rules/r1": () => answer(204, null),
    });
    renderAt("/alerts?tab=rules", "/alerts", <Alerts />);
    const row = await screen.findByRole("row", { name: /nightly failures/ });
    fireEvent.click(within(row).getByRole("button", { name: "Pause" }));
    expect(await sent(fetch, "PATCH", "/api/alert-rules/r1")).toEqual({ status: "paused" });
    fireEvent.click(within(row).getByRole("button", { name: "Delete" }));
    const confirm = await screen.findByRole("alertdialog");
    fireEvent.click(within(confirm).getByRole("button", { name: "Delete" }));
    await vi.waitFor(() => expect(fetch.mock.calls.some(([r]) => r.method === "DELETE")).toBe(true));
  });

  it("sends a channel a test and says how it answered", async () => {
    api("developer", {
      "POST /api/alert-channels/c1/test": () =>
        answer(200, { ok: false, detail: "hooks.example.com answered HTTP 410", latencyMs: 12.5 }),
    });
    renderAt("/alerts?tab=channels", "/alerts", <Alerts />);
    const row = await screen.findByRole("row", { name: /ops-hook/ });
    fireEvent.click(within(row).getByRole("button", { name: "Send a test" }));
    expect((await screen.findByRole("alert")).textContent).toBe(
      "The test was not taken: hooks.example.com answered HTTP 410 (after 12.5 ms).",
    );
  });

  it("edits a channel without its secret unless a new one is typed in", async () => {
    const fetch = api("developer", {
      "PATCH /api/alert-channels/c1": () => answer(200, channel),
    });
    renderAt("/alerts?tab=channels", "/alerts", <Alerts />);
    const row = await screen.findByRole("row", { name: /ops-hook/ });
    fireEvent.click(within(row).getByRole("button", { name: "Edit" }));
    const form = await screen.findByRole("dialog", { name: "Edit ops-hook" });
    const secret = within(form).getByLabelText(/Signing secret/) as HTMLInputElement;
    expect(secret.value).toBe("");
    expect(secret.placeholder).toBe("unchanged");
    expect(secret.type).toBe("password");
    fireEvent.change(within(form).getByLabelText(/Messages per minute/), { target: { value: "30" } });
    fireEvent.submit(within(form).getByRole("button", { name: "Save" }));
    expect(await sent(fetch, "PATCH", "/api/alert-channels/c1")).toEqual({
      config: { url: "https://hooks.example.com/in" },
      rateLimitPerMinute: 30,
    });
  });

  it("says which rules keep a channel from being deleted", async () => {
    api("admin", {
      "DELETE /api/alert-channels/c1": () =>
        answer(409, {
          code: "channel_in_use",
          detail: "rules send to ops-hook: nightly failures; take it out of them first",
          rules: ["nightly failures"],
        }),
    });
    renderAt("/alerts?tab=channels", "/alerts", <Alerts />);
    const row = await screen.findByRole("row", { name: /ops-hook/ });
    fireEvent.click(within(row).getByRole("button", { name: "Delete" }));
    fireEvent.click(within(await screen.findByRole("alertdialog")).getByRole("button", { name: "Delete" }));
    expect((await screen.findByRole("alert")).textContent).toBe(
      "rules send to ops-hook: nightly failures; take it out of them first",
    );
  });
});

describe("AlertDetail", () => {
  it("shows the history with who acted and why, and a notification that failed", async () => {
    stubApi({
      "GET /api/alerts/al1": () =>
        answer(200, {
          alert: { ...alert, status: "acknowledged", acknowledgedAt: at, acknowledgedBy: "op@example.com" },
          events: [
            { id: 1, kind: "opened", actor: null, note: null, at },
            { id: 2, kind: "acknowledged", actor: "op@example.com", note: "on it", at },
          ],
          deliveries: [
            {
              id: "d1",
              eventId: 1,
              event: "opened",
              channelId: "c1",
              channelName: "ops-hook",
              channelType: "webhook",
              status: "failed",
              attempts: 1,
              nextAttemptAt: at,
              lastError: "hooks.example.com answered HTTP 410",
              deliveredAt: null,
              digestId: null,
            },
          ],
          sources: [{ sourceKey: "pipeline:p1", at }],
        }),
    });
    renderAt("/alerts/al1", "/alerts/:id", <AlertDetail />);
    expect(await screen.findByRole("heading", { name: "nightly failures: nightly" })).toBeTruthy();
    const history = screen.getByRole("list", { name: "alert history" });
    expect(history.textContent).toContain("acknowledged by op@example.com");
    expect(history.textContent).toContain("“on it”");
    const delivery = screen.getByRole("row", { name: /ops-hook/ });
    expect(within(delivery).getByText("failed")).toBeTruthy();
    expect(within(delivery).getByText("hooks.example.com answered HTTP 410")).toBeTruthy();
    // Still open: it may be resolved, no longer acknowledged.
    expect(screen.getByRole("button", { name: "Resolve" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Acknowledge" })).toBeNull();
    expect(screen.getByText("pipeline id")).toBeTruthy();
    const sources = screen.getByRole("list", { name: "alert sources" });
    expect(within(sources).getByRole("link").getAttribute("href")).toBe("/pipelines/p1");
  });
});
