import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { TraceLink } from "./TraceLink";

afterEach(cleanup);

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";

describe("TraceLink", () => {
  it("links to the trace when the tracing UI's address is known", () => {
    render(<TraceLink traceId={TRACE} url={`https://traces.example.com/trace/${TRACE}`} />);
    const link = screen.getByRole("link", { name: /trace 4bf92f35/ });
    expect(link.getAttribute("href")).toBe(`https://traces.example.com/trace/${TRACE}`);
    expect(link.getAttribute("rel")).toBe("noreferrer");
    expect(link.getAttribute("title")).toBe(`trace ${TRACE}`);
  });

  it("shows the id, unlinked, without one", () => {
    render(<TraceLink traceId={TRACE} url={null} />);
    expect(screen.queryByRole("link")).toBeNull();
    expect(screen.getByTitle(`trace ${TRACE}`).textContent).toBe("trace 4bf92f35…");
  });
});
