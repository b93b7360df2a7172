// The stage logs of one's applications, searched: words, levels, application, handler,
// pipeline and time window, all kept in the address; newest first, an older page at a time,
// and a live tail that adds the lines written since, every two seconds.
import { useInfiniteQuery } from "@tanstack/react-query";
import { type FormEvent, useEffect, useMemo, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router";

import { api, call, type Schemas } from "../api/client";
import { ApplicationSelect } from "../components/ApplicationSelect";
import { WindowPicker } from "../components/RangePicker";
import { buttonClass, Empty, ErrorText, inputClass, Loaded, OlderButton, PageHeader } from "../components/ui";
import { clock, dateTime } from "../format";
import { markWords, searchedWords, type Window, WINDOWS, windowStart } from "../logSearch";

type Line = Schemas["FoundLineView"];
type Level = "debug" | "info" | "warning" | "error";
const LEVELS: Level[] = ["debug", "info", "warning", "error"];
const LEVEL_COLOUR: Record<string, string> = {
  error: "text-red-300",
  warning: "text-amber-300",
  debug: "text-slate-400",
};
const PAGE = 100;
const TAIL_EVERY_MS = 2000;
// The tail keeps this many lines on screen; older ones are a search away.
const TAIL_KEEPS = 1000;

export function Logs() {
  const [params, setParams] = useSearchParams();
  const filters = {
    q: params.get("q") ?? "",
    level: params.getAll("level") as Level[],
    application: params.get("application") ?? "",
    handler: params.get("handler") ?? "",
    pipelineId: params.get("pipelineId") ?? "",
    window: (WINDOWS as readonly string[]).includes(params.get("window") ?? "")
      ? (params.get("window") as Window)
      : "24h",
  };
  const set = (changes: Changes) => {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes)) {
      next.delete(name);
      for (const item of Array.isArray(value) ? value : [value]) if (item) next.append(name, item);
    }
    setParams(next, { replace: true });
  };
  const [tailing, setTailing] = useState(false);
  return (
    <section>
      <PageHeader title="Logs">
        <button
          className={buttonClass(tailing ? "primary" : "default")}
          aria-pressed={tailing}
          onClick={() => setTailing(!tailing)}
        >
          {tailing ? "Live tail: on" : "Live tail"}
        </button>
      </PageHeader>
      <Filters filters={filters} set={set} />
      <Results filters={filters} tailing={tailing} />
    </section>
  );
}

type Changes = Record<string, string | string[]>;

type Filters = {
  q: string;
  level: Level[];
  application: string;
  handler: string;
  pipelineId: string;
  window: Window;
};

function Filters({ filters, set }: { filters: Filters; set: (changes: Changes) => void }) {
  const [words, setWords] = useState(filters.q);
  const [handler, setHandler] = useState(filters.handler);
  useEffect(() => setWords(filters.q), [filters.q]);
  useEffect(() => setHandler(filters.handler), [filters.handler]);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    set({ q: words.trim(), handler: handler.trim() });
  };
  return (
    <div className="mb-3 space-y-2 text-sm">
      <form
        onSubmit={submit}
        role="search"
        aria-label="search the logs"
        className="flex flex-wrap items-end gap-2"
      >
        <label className="min-w-64 flex-1">
          <span className="text-muted">Words</span>
          <input
            type="search"
            value={words}
            maxLength={500}
            onChange={(e) => setWords(e.target.value)}
            placeholder='timeout, "connection refused", timeout -retry, disk or memory'
            className={`${inputClass} mt-1 block w-full`}
          />
        </label>
        <label>
          <span className="text-muted">Handler</span>
          <input
            value={handler}
            maxLength={200}
            onChange={(e) => setHandler(e.target.value)}
            className={`${inputClass} mt-1 block w-40`}
          />
        </label>
        <button type="submit" className={buttonClass("primary")}>
          Search
        </button>
      </form>
      <div className="flex flex-wrap items-center gap-3">
        <label className="flex items-center gap-1">
          <span className="text-muted">Application</span>
          <ApplicationSelect
            value={filters.application}
            onChange={(id) => set({ application: id })}
            anyLabel="any"
          />
        </label>
        <fieldset className="flex items-center gap-2">
          <legend className="sr-only">Levels</legend>
          {LEVELS.map((level) => (
            <label key={level} className="flex items-center gap-1">
              <input
                type="checkbox"
                checked={filters.level.includes(level)}
                onChange={(e) =>
                  set({
                    level: e.target.checked
                      ? [...filters.level, level]
                      : filters.level.filter((l) => l !== level),
                  })
                }
              />
              {level}
            </label>
          ))}
        </fieldset>
        <WindowPicker
          options={WINDOWS}
          value={filters.window}
          onChange={(w) => set({ window: w })}
          label="time window"
        />
        {filters.pipelineId && (
          <span className="flex items-center gap-1 rounded bg-slate-100 px-2 py-0.5 dark:bg-slate-800">
            one pipeline:{" "}
            <Link to={`/pipelines/${filters.pipelineId}`} className="underline">
              {filters.pipelineId.slice(0, 8)}
            </Link>
            <button
              aria-label="search every pipeline"
              className="ml-1 text-muted hover:text-slate-900 dark:hover:text-white"
              onClick={() => set({ pipelineId: "" })}
            >
              ×
            </button>
          </span>
        )}
      </div>
    </div>
  );
}

function query(filters: Filters) {
  return {
    q: filters.q || undefined,
    level: filters.level.length ? filters.level : undefined,
    application: filters.application || undefined,
    handler: filters.handler || undefined,
    pipelineId: filters.pipelineId || undefined,
    from: windowStart(filters.window, Date.now()),
  };
}

function Results({ filters, tailing }: { filters: Filters; tailing: boolean }) {
  const search = useInfiniteQuery({
    queryKey: ["log-search", filters],
    queryFn: ({ pageParam }) =>
      call(() =>
        api.GET("/api/logs", { params: { query: { ...query(filters), before: pageParam, limit: PAGE } } }),
      ),
    initialPageParam: undefined as number | undefined,
    getNextPageParam: (page) => page.nextBefore ?? undefined,
  });
  const tail = useTail(filters, tailing, search.data?.pages[0]?.items[0]?.id, search.isSuccess);
  const words = useMemo(() => searchedWords(filters.q), [filters.q]);
  return (
    <>
      <ErrorText error={tail.error} className="mb-2" />
      <Loaded query={search} what="the logs">
        {(data) => {
          const lines = [...tail.lines, ...data.pages.flatMap((page) => page.items)];
          if (!lines.length && !tailing) return <Empty>No log line matches.</Empty>;
          return (
            <>
              <ol
                aria-label="log lines"
                aria-live={tailing ? "polite" : "off"}
                className="overflow-x-auto rounded bg-slate-950 p-2 font-mono text-xs text-slate-100"
              >
                {!lines.length && <li className="text-slate-400">Waiting for lines…</li>}
                {lines.map((line) => (
                  <LogLine key={line.id} line={line} words={words} />
                ))}
              </ol>
              <OlderButton query={search} label="Older lines" />
            </>
          );
        }}
      </Loaded>
    </>
  );
}

function LogLine({ line, words }: { line: Line; words: string[] }) {
  return (
    <li data-log-line={line.id} className={`flex gap-2 py-0.5 ${LEVEL_COLOUR[line.level] ?? ""}`}>
      <time dateTime={line.at} title={dateTime(line.at)} className="shrink-0 text-slate-400">
        {clock(line.at)}
      </time>
      <span className="w-14 shrink-0">{line.level}</span>
      <Link
        to={`/pipelines/${line.pipelineId}?stage=${encodeURIComponent(line.stageName)}`}
        className="max-w-56 shrink-0 truncate text-sky-300 hover:underline"
        title={`${line.pipelineName} · ${line.stageName} (${line.handler}), attempt ${line.attempt}`}
      >
        {line.pipelineName} · {line.stageName}
      </Link>
      <span className="break-all whitespace-pre-wrap">
        {markWords(line.message, words).map((piece, i) =>
          piece.marked ? (
            <mark key={i} className="rounded-sm bg-amber-300 px-0.5 text-slate-950">
              {piece.text}
            </mark>
          ) : (
            piece.text
          ),
        )}
      </span>
    </li>
  );
}

/** While on, the lines written since the newest one shown, every two seconds, newest first. */
function useTail(filters: Filters, on: boolean, newestFound: number | undefined, ready: boolean) {
  const [lines, setLines] = useState<Line[]>([]);
  const [error, setError] = useState<Error | null>(null);
  const key = JSON.stringify(filters);
  // A new search starts the tail afresh.
  useEffect(() => setLines([]), [key]);
  const newest = useRef<number | undefined>(undefined);
  newest.current = lines[0]?.id ?? newestFound;
  useEffect(() => {
    if (!on || !ready) return;
    let stopped = false;
    let reading = false; // one read at a time: two would both ask after the same line
    const read = async () => {
      if (reading) return;
      reading = true;
      try {
        const page = await call(() =>
          api.GET("/api/logs", {
            params: { query: { ...query(filters), from: undefined, after: newest.current, limit: 500 } },
          }),
        );
        if (stopped) return;
        setError(null);
        const since = newest.current;
        const fresh = page.items.filter((line) => since === undefined || line.id > since);
        if (!fresh.length) return;
        newest.current = fresh[0]!.id;
        setLines((kept) => [...fresh, ...kept].slice(0, TAIL_KEEPS));
      } catch (problem) {
        if (!stopped) setError(problem as Error);
      } finally {
        reading = false;
      }
    };
    const timer = setInterval(() => void read(), TAIL_EVERY_MS);
    void read();
    return () => {
      stopped = true;
      clearInterval(timer);
    };
    // `filters` is read through `key`: the same search is the same tail.
  }, [on, ready, key]);
  return { lines, error };
}
