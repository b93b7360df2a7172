import { describe, expect, it } from "vitest";

import {
  channelConfigFrom,
  channelTarget,
  channelValues,
  conditionFrom,
  conditionValues,
  describeCondition,
} from "./alertForms";

describe("conditionFrom", () => {
  it("leaves out the filters left empty, and keeps the text of the others", () => {
    expect(conditionFrom("pipeline_failed", { name: " nightly ", definitionId: "", keyword: "" })).toEqual({
      condition: { type: "pipeline_failed", name: "nightly" },
    });
    expect(conditionFrom("worker_lost", {})).toEqual({ condition: { type: "worker_lost" } });
  });

  it("asks for what the condition cannot do without, and checks the numbers", () => {
    expect(conditionFrom("stage_pending", { minutes: "" })).toEqual({
      problem: "Waiting longer than (minutes): required",
    });
    expect(conditionFrom("stage_pending", { minutes: "0" })).toEqual({
      problem: "Waiting longer than (minutes): a whole number of minutes from 1 to 10080 (a week)",
    });
    expect(conditionFrom("queue_backlog", { above: "2.5" })).toEqual({
      problem: "More than this many stages queued: a whole number, 0 or more",
    });
    expect(conditionFrom("queue_backlog", { above: "0", minutes: "0", handler: "resize" })).toEqual({
      condition: { type: "queue_backlog", above: 0, minutes: 0, handler: "resize" },
    });
    expect(conditionFrom("stage_pending", { minutes: "10", failAfterMinutes: "60" })).toEqual({
      condition: { type: "stage_pending", minutes: 10, failAfterMinutes: 60 },
    });
  });

  it("reads back into the form as it was sent", () => {
    const condition = { type: "stage_failed", pipelineName: "hourly", stage: "load" };
    const values = conditionValues(condition);
    expect(values).toEqual({ pipelineName: "hourly", stage: "load", handler: "" });
    expect(conditionFrom("stage_failed", values)).toEqual({ condition });
  });
});

describe("describeCondition", () => {
  it("says each kind in words", () => {
    expect(describeCondition({ type: "pipeline_failed" })).toBe("any pipeline failed");
    expect(describeCondition({ type: "pipeline_failed", name: "nightly", keyword: "eu" })).toBe(
      "pipeline “nightly” failed, keyword “eu”",
    );
    expect(describeCondition({ type: "stage_failed", stage: "load", pipelineName: "hourly" })).toBe(
      "stage “load” of “hourly” failed for good",
    );
    expect(describeCondition({ type: "stage_pending", minutes: 10, failAfterMinutes: 60 })).toBe(
      "stages waited over 10 min with no worker; failed after 60 min",
    );
    expect(describeCondition({ type: "queue_backlog", above: 100, handler: "resize" })).toBe(
      "more than 100 stages of “resize” queued for 5 min",
    );
    expect(describeCondition({ type: "worker_lost" })).toBe("a worker lost holding jobs");
    expect(describeCondition({ type: "schedule_missed", schedule: "mornings" })).toBe(
      "schedule “mornings” missed a run",
    );
  });
});

describe("channelConfigFrom", () => {
  it("needs a webhook's secret when it is created, and keeps the one it has when edited", () => {
    const values = { url: "https://hooks.example.com/in", secret: "" };
    expect(channelConfigFrom("webhook", values, false)).toEqual({
      problem: "Signing secret (8 characters or more): required",
    });
    expect(channelConfigFrom("webhook", values, true)).toEqual({
      config: { url: "https://hooks.example.com/in" },
    });
    expect(channelConfigFrom("webhook", { ...values, secret: " a new secret " }, true)).toEqual({
      // A secret is sent as typed, spaces and all.
      config: { url: "https://hooks.example.com/in", secret: " a new secret " },
    });
    expect(channelConfigFrom("webhook", { ...values, url: "ftp://x" }, true)).toEqual({
      problem: "URL: an http:// or https:// address",
    });
  });

  it("sends a Slack URL only when one is typed in", () => {
    expect(channelConfigFrom("slack", { url: "" }, true)).toEqual({ config: {} });
    expect(channelConfigFrom("slack", { url: "" }, false)).toEqual({
      problem: "Incoming-webhook URL: required",
    });
  });

  it("turns a mail form into its config: a list of recipients, a port, STARTTLS", () => {
    const values = {
      host: "smtp.example.com",
      port: "",
      sender: "alerts@example.com",
      to: "ops@example.com, , dev@example.com",
      starttls: "false",
      username: "",
      password: "",
    };
    expect(channelConfigFrom("email", values, false)).toEqual({
      config: {
        host: "smtp.example.com",
        sender: "alerts@example.com",
        to: ["ops@example.com", "dev@example.com"],
        starttls: false,
      },
    });
    expect(channelConfigFrom("email", { ...values, port: "70000" }, false)).toEqual({
      problem: "Port: a whole number from 1 to 65535",
    });
    expect(channelConfigFrom("email", { ...values, to: " , " }, false)).toEqual({
      problem: "To (comma-separated): required",
    });
  });
});

describe("channelValues", () => {
  it("fills the form from a channel's config, never with a secret", () => {
    expect(
      channelValues("email", {
        host: "smtp.example.com",
        port: 587,
        sender: "a@example.com",
        to: ["b@example.com", "c@example.com"],
        username: "a",
      }),
    ).toEqual({
      host: "smtp.example.com",
      port: "587",
      sender: "a@example.com",
      to: "b@example.com, c@example.com",
      starttls: "true",
      username: "a",
      password: "",
    });
    // Even were an answer to carry one, the form would not show it.
    expect(channelValues("webhook", { url: "https://x.example", secret: "leaked" })).toEqual({
      url: "https://x.example",
      secret: "",
    });
  });

  it("shows where a channel sends, but not a Slack URL", () => {
    expect(channelTarget({ type: "webhook", config: { url: "https://x.example/in" } })).toBe(
      "https://x.example/in",
    );
    expect(channelTarget({ type: "email", config: { host: "smtp.x", to: ["a@x", "b@x"] } })).toBe(
      "a@x, b@x via smtp.x",
    );
    expect(channelTarget({ type: "slack", config: {} })).toBe("Slack incoming webhook");
  });
});

describe("quality and risk conditions", () => {
  it("reads a percentage as a share and back", () => {
    const made = conditionFrom("quality_failure_rate", { above: "5", dataset: "orders" });
    expect(made).toEqual({ condition: { type: "quality_failure_rate", above: 0.05, dataset: "orders" } });
    expect(conditionValues({ type: "quality_failure_rate", above: 0.05 })).toEqual({
      above: "5",
      dataset: "",
    });
    expect(conditionFrom("quality_failure_rate", { above: "120" })).toEqual({
      problem: "Quarantined rows above (%): a number from 0 to 100",
    });
  });

  it("takes a choice only among its options, and leaves an empty one out", () => {
    expect(conditionFrom("risk", { minSeverity: "critical", signal: "" })).toEqual({
      condition: { type: "risk", minSeverity: "critical" },
    });
    expect(conditionFrom("risk", { minSeverity: "loud" })).toEqual({
      problem: "At least: one of info, warning, critical",
    });
    expect(describeCondition({ type: "risk", signal: "duration", stage: "load" })).toBe(
      "stage “load” runs slow against its history (warning or worse)",
    );
  });

  it("watches a pipeline's runs by its name, or every pipeline, or stages and pipelines alike", () => {
    expect(conditionFrom("risk", { kind: "pipeline", pipelineName: "nightly", signal: "duration" })).toEqual({
      condition: { type: "risk", kind: "pipeline", pipelineName: "nightly", signal: "duration" },
    });
    expect(conditionFrom("risk", { kind: "everything" })).toEqual({
      problem: "Of: one of stage, pipeline",
    });
    expect(describeCondition({ type: "risk", signal: "duration", pipelineName: "nightly" })).toBe(
      "pipeline “nightly” runs slow against its history (warning or worse)",
    );
    expect(describeCondition({ type: "risk", kind: "pipeline", minSeverity: "critical" })).toBe(
      "a pipeline is at risk against its history (critical or worse)",
    );
    expect(describeCondition({ type: "risk" })).toBe(
      "a stage or pipeline is at risk against its history (warning or worse)",
    );
  });
});
