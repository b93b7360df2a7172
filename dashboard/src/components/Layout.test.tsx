import { cleanup, screen, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi, users } from "../test/render";
import { Layout } from "./Layout";

// jsdom has neither a WebSocket server nor matchMedia; the layout needs both to exist.
class NoSocket {
  onmessage = null;
  onclose = null;
  close() {}
}

beforeEach(() => {
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
      "Datasets",
      "Approvals",
      "Alerts",
      "Workers",
      "Insights",
      "Policies",
      "Applications",
      "Users",
      "Audit log",
      "Housekeeping",
    ]);
  });

  it("offers an operator no admin page", async () => {
    stubApi({ "GET /api/auth/me": () => answer(200, users.operator) });
    renderAt("/", "/", <Layout />);
    await screen.findByRole("button", { name: "Account and theme" });
    expect(links()).toEqual([
      "Overview",
      "Pipelines",
      "Definitions",
      "Datasets",
      "Approvals",
      "Alerts",
      "Workers",
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
});
