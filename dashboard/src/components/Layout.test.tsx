import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi, users } from "../test/render";
import { Layout } from "./Layout";

// jsdom has neither a WebSocket server nor matchMedia; the layout needs both to exist.
let sockets = 0;
class NoSocket {
  onmessage = null;
  onclose = null;
  constructor() {
    sockets += 1;
  }
  close() {}
}

beforeEach(() => {
  sockets = 0;
  vi.stubGlobal("WebSocket", NoSocket);
  vi.stubGlobal("matchMedia", () => ({ matches: false, addEventListener() {}, removeEventListener() {} }));
});

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const links = () =>
  within(screen.getByRole("navigation", { name: "main" }))
    .getAllByRole("link")
    .map((link) => link.textContent);

describe("Layout", () => {
  it("offers an admin every page", async () => {
    stubApi({ "GET /api/auth/me": () => answer(200, users.admin) });
    renderAt("/", "/", <Layout />);
    await screen.findByRole("button", { name: "Account and theme" });
    expect(links()).toEqual([
      "Overview",
      "Pipelines",
      "Definitions",
      "Schedules",
      "Datasets",
      "Approvals",
      "Alerts",
      "Workers",
      "Logs",
      "Insights",
      "Policies",
    ]);
    // The admin pages are one menu away, so that the bar keeps to a line.
    const admin = screen.getByRole("button", { name: "Admin ▾" });
    fireEvent.pointerDown(admin, { button: 0, ctrlKey: false, pointerType: "mouse" });
    const items = await screen.findAllByRole("menuitem");
    expect(items.map((item) => [item.textContent, item.getAttribute("href")])).toEqual([
      ["Applications", "/applications"],
      ["Users", "/users"],
      ["Audit log", "/audit"],
      ["Housekeeping", "/housekeeping"],
    ]);
  });

  it("offers an operator no admin page", async () => {
    stubApi({ "GET /api/auth/me": () => answer(200, users.operator) });
    renderAt("/", "/", <Layout />);
    await screen.findByRole("button", { name: "Account and theme" });
    expect(screen.queryByRole("button", { name: "Admin ▾" })).toBeNull();
    expect(links()).toEqual([
      "Overview",
      "Pipelines",
      "Definitions",
      "Schedules",
      "Datasets",
      "Approvals",
      "Alerts",
      "Workers",
      "Logs",
      "Insights",
      "Policies",
    ]);
  });

  it("sends someone not logged in to the login page", async () => {
    stubApi({ "GET /api/auth/me": () => answer(401, { code: "not_authenticated", detail: "log in" }) });
    renderAt("/workers", "/workers", <Layout />);
    expect(await screen.findByText("elsewhere")).toBeTruthy();
  });

  it("counts the approvals waiting for a decision beside their page", async () => {
    stubApi({
      "GET /api/auth/me": () => answer(200, users.operator),
      "GET /api/approvals": () => answer(200, { items: [{ id: "a1" }, { id: "a2" }] }),
    });
    renderAt("/", "/", <Layout />);
    expect(await screen.findByLabelText("2 waiting")).toBeTruthy();
    expect(links()).toContain("Approvals2");
  });

  it("counts the alerts firing beside their page", async () => {
    stubApi({
      "GET /api/auth/me": () => answer(200, users.operator),
      "GET /api/alerts/counts": () => answer(200, { firing: 3, acknowledged: 1 }),
    });
    renderAt("/", "/", <Layout />);
    expect(await screen.findByLabelText("3 firing")).toBeTruthy();
    expect(links()).toContain("Alerts3");
  });

  it("serves a password someone else chose only the choice of one's own", async () => {
    let chosen = false;
    const fetch = stubApi({
      "GET /api/auth/me": () => answer(200, { ...users.admin, mustChangePassword: !chosen }),
      "POST /api/auth/password": () => {
        chosen = true;
        return answer(200, { sessionsEnded: 0 });
      },
      "GET /api/auth/sessions": () => answer(200, { items: [] }),
    });
    renderAt("/", "/", <Layout />);
    await screen.findByRole("heading", { name: "Choose your password" });
    expect(screen.queryByRole("navigation", { name: "main" })).toBeNull();
    expect(sockets).toBe(0); // no live updates either
    const fill = (label: RegExp, value: string) =>
      fireEvent.change(screen.getByLabelText(label), { target: { value } });
    fill(/^The password you were given/, "the-printed-one");
    fill(/^New password \(/, "a-password-of-my-own");
    fill(/^New password, again/, "a-password-of-my-own");
    fireEvent.click(screen.getByRole("button", { name: "Change password" }));
    // Chosen: the pages open.
    await screen.findByRole("navigation", { name: "main" });
    const sent = fetch.mock.calls.map(([r]) => r).find((r) => r.method === "POST");
    expect(await sent!.json()).toEqual({
      currentPassword: "the-printed-one",
      newPassword: "a-password-of-my-own",
    });
  });
});
