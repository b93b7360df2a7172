// End to end, in Debian's Chromium, against a running control plane: log in, watch a pipeline
// submitted by the API appear, run its stage as a worker over HTTP, and see the stage turn
// completed on screen without a reload. Run by tests/test_dashboard_e2e.py, which starts the
// control plane and passes where it is in the environment.
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const internal = env("PLQ_INTERNAL");
const external = env("PLQ_EXTERNAL");
const key = env("PLQ_KEY");
const screenshots = process.env.PLQ_SCREENSHOTS;

async function externalApi(path, body) {
  const response = await fetch(`${external}${path}`, {
    method: "POST",
    headers: { "X-API-Key": key, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${internal}/pipelines`);
  // Not logged in: the app sends us to the login page. A wrong password is told as such.
  await page.getByLabel("Email").fill(env("PLQ_EMAIL"));
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("alert").getByText("Wrong email or password.").waitFor();
  await page.getByLabel("Password").fill(env("PLQ_PASSWORD"));
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Pipelines" }).waitFor();
  await page.locator('[data-live="live"]').waitFor();

  // Submitted while we look: the row appears without a reload.
  const name = `e2e-${Date.now()}`;
  await externalApi("/pipelines", { name, stages: [{ name: "greet", handler: "e2e" }] });
  await page.getByRole("link", { name }).waitFor({ timeout: 5000 });
  if (screenshots) await page.screenshot({ path: `${screenshots}/pipelines.png` });

  await page.getByRole("link", { name }).click();
  const stage = page.locator('tr[data-stage="greet"]');
  await stage.locator('[data-status="queued"]').waitFor();

  // A worker runs the stage; the badge turns completed on its own.
  const { workerId } = await externalApi("/workers/bootstrap", {
    workerName: "e2e-worker",
    handlers: ["e2e"],
  });
  const { jobs } = await externalApi("/jobs/pull", {
    handlers: ["e2e"],
    maxJobs: 1,
    waitSeconds: 5,
    workerId,
  });
  if (jobs.length !== 1) throw new Error(`expected one job, got ${jobs.length}`);
  await externalApi("/jobs/ack", {
    results: [{ jobId: jobs[0].jobId, status: "completed", output: { hello: "world" } }],
  });
  await stage.locator('[data-status="completed"]').waitFor({ timeout: 5000 });
  if (screenshots) await page.screenshot({ path: `${screenshots}/pipeline.png` });

  // The worker that registered shows up online.
  await page.getByRole("link", { name: "Workers" }).click();
  await page.locator('tr[data-worker="e2e-worker"] [data-status="online"]').waitFor();
  if (screenshots) await page.screenshot({ path: `${screenshots}/workers.png` });

  // An admin creates a key, sees it once, and revokes it.
  page.on("dialog", (dialog) => void dialog.accept());
  await page.getByRole("link", { name: "Applications" }).click();
  const application = page.getByRole("article").first();
  await application.getByLabel("New key named").fill("e2e-key");
  await application.getByRole("button", { name: "Create key" }).click();
  const shown = await application.locator("[data-key]").textContent();
  if (!shown?.startsWith("plq_")) throw new Error(`no new key shown: ${shown}`);
  const row = application.locator('tr[data-key-name="e2e-key"]');
  await row.getByRole("button", { name: "Revoke" }).click();
  await row.getByText("revoked").waitFor();
  const refused = await fetch(`${external}/pipelines`, {
    method: "POST",
    headers: { "X-API-Key": shown, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "never", stages: [{ name: "s", handler: "h" }] }),
  });
  if (refused.status !== 401) throw new Error(`a revoked key was let in: ${refused.status}`);

  // A stage fails; its page shows the error and the log; rerun with an edited input.
  const failing = `e2e-fail-${Date.now()}`;
  await externalApi("/pipelines", {
    name: failing,
    stages: [{ name: "flaky", handler: "e2e", input: { n: 1 } }],
  });
  const [first] = (await externalApi("/jobs/pull", { handlers: ["e2e"], maxJobs: 1, waitSeconds: 5 })).jobs;
  await externalApi("/jobs/ack", {
    results: [
      {
        jobId: first.jobId,
        status: "failed",
        error: { message: "n must be even", retryable: false },
        logs: [{ level: "error", message: "got an odd n" }],
      },
    ],
  });
  await page.getByRole("link", { name: "Pipelines" }).click();
  await page.getByRole("link", { name: failing }).click();
  await page.getByRole("button", { name: "flaky" }).click();
  const panel = page.getByRole("complementary", { name: "stage flaky" });
  await panel.getByText("n must be even").first().waitFor();
  await panel.locator("[data-logs]").getByText("got an odd n").waitFor();
  await panel.getByLabel("Input for a rerun").fill('{"n": 2}');
  await panel.getByRole("button", { name: "Rerun with this input" }).click();
  await page.locator('tr[data-stage="flaky"] [data-status="queued"]').waitFor();
  const [second] = (await externalApi("/jobs/pull", { handlers: ["e2e"], maxJobs: 1, waitSeconds: 5 })).jobs;
  if (second.input.n !== 2 || second.attempt !== 2) {
    throw new Error(`the rerun got ${JSON.stringify(second)}`);
  }
  await externalApi("/jobs/ack", { results: [{ jobId: second.jobId, status: "completed" }] });
  await page.locator('tr[data-stage="flaky"] [data-status="completed"]').waitFor({ timeout: 5000 });
  await panel.locator('[data-attempt="2"]').waitFor();
  if (screenshots) await page.screenshot({ path: `${screenshots}/stage.png`, fullPage: true });

  // Two pipelines selected in the table and cancelled together.
  const stamp = Date.now();
  const bulkNames = [`bulk-a-${stamp}`, `bulk-b-${stamp}`];
  for (const name of bulkNames) {
    await externalApi("/pipelines", { name, stages: [{ name: "s", handler: "nobody" }] });
  }
  await page.getByRole("link", { name: "Pipelines" }).click();
  for (const name of bulkNames) await page.getByLabel(`select ${name}`).check();
  await page.getByRole("button", { name: "Cancel", exact: true }).click();
  await page.getByRole("status").getByText("2 done").waitFor();
  for (const name of bulkNames) {
    await page
      .getByRole("row")
      .filter({ has: page.getByRole("link", { name }) })
      .locator('td [data-status="cancelled"]')
      .first()
      .waitFor();
  }

  // An operator sees no admin pages, and the API refuses them what the page does not offer.
  const csrf = (await page.context().cookies()).find((c) => c.name === "plq_csrf")?.value ?? "";
  const [app] = await (await page.request.get(`${internal}/api/applications`)).json();
  const operator = { email: "op@example.com", password: "an operator's password" };
  const made = await page.request.post(`${internal}/api/users`, {
    headers: { "X-CSRF-Token": csrf },
    data: { ...operator, name: "Op", role: "operator" },
  });
  if (made.status() !== 201) throw new Error(`creating the operator: ${made.status()}`);
  const { id: operatorId } = await made.json();
  await page.request.put(`${internal}/api/users/${operatorId}/applications`, {
    headers: { "X-CSRF-Token": csrf },
    data: { applicationIds: [app.id] },
  });
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByLabel("Email").fill(operator.email);
  await page.getByLabel("Password").fill(operator.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Pipelines" }).waitFor();
  if (await page.getByRole("link", { name: "Applications" }).count()) {
    throw new Error("an operator is offered the applications page");
  }
  const opCsrf = (await page.context().cookies()).find((c) => c.name === "plq_csrf")?.value ?? "";
  const forbidden = await page.request.post(`${internal}/api/applications/${app.id}/keys`, {
    headers: { "X-CSRF-Token": opCsrf },
    data: { name: "sneaky" },
  });
  if (forbidden.status() !== 403) throw new Error(`an operator made a key: ${forbidden.status()}`);
  console.log("e2e: ok");
} finally {
  await browser.close();
}
