import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { answer, renderAt, stubApi, users } from "../test/render";
import { Connections } from "./Connections";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const now = new Date().toISOString();
const shop = {
  id: "c1",
  applicationId: "a1",
  applicationName: "shop",
  name: "orders-db",
  kind: "postgresql",
  host: "db.internal",
  port: 5432,
  database: "shop",
  username: "reader",
  sslmode: "require",
  hasPassword: true,
  createdAt: now,
  updatedAt: now,
};

describe("Connections", () => {
  it("lists connections, tests one and shows the tables it can read", async () => {
    stubApi({
      "GET /api/auth/me": () => answer(200, users.developer),
      "GET /api/connections": () => answer(200, [shop]),
      "POST /api/connections/c1/test": () =>
        answer(200, { ok: true, serverVersion: "15.19", latencyMs: 3.2 }),
      "GET /api/connections/c1/tables": () =>
        answer(200, [{ schema: "public", name: "orders", kind: "table", estimatedRows: 1200 }]),
    });
    renderAt("/", "/", <Connections />);
    const row = await screen.findByRole("row", { name: /orders-db/ });
    expect(within(row).getByText("db.internal:5432/shop")).toBeTruthy();
    fireEvent.click(within(row).getByRole("button", { name: "Test" }));
    expect(await screen.findByText("Connected: PostgreSQL 15.19, in 3.2 ms.")).toBeTruthy();
    fireEvent.click(within(row).getByRole("button", { name: "Tables" }));
    const tables = await screen.findByRole("list", { name: "tables of orders-db" });
    expect(tables.textContent).toContain("public.orders");
  });

  it("offers an operator no changes", async () => {
    stubApi({
      "GET /api/auth/me": () => answer(200, users.operator),
      "GET /api/connections": () => answer(200, [shop]),
    });
    renderAt("/", "/", <Connections />);
    const row = await screen.findByRole("row", { name: /orders-db/ });
    expect(within(row).queryByRole("button", { name: "Test" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Add a connection" })).toBeNull();
    expect(within(row).getByRole("button", { name: "Tables" })).toBeTruthy();
  });
});
