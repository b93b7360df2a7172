// Numbers, durations, sizes and times as people read them.

const INTEGER = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const DECIMAL = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });

/** 12,345 — or 3.5 where a fraction matters. */
export function count(value: number): string {
  return Math.abs(value) >= 100 || Number.isInteger(value) ? INTEGER.format(value) : DECIMAL.format(value);
}

/** A rate such as jobs per minute: a trickle reads "< 0.1", not "0". */
export function rate(value: number): string {
  return value > 0 && value < 0.05 ? "< 0.1" : count(value);
}

/** A share between 0 and 1 as a percentage; unknown (no data) as a dash. */
export function percent(share: number | null | undefined): string {
  if (share === null || share === undefined) return "—";
  const value = share * 100;
  return `${value === 100 || value === 0 ? value : value.toFixed(1)} %`;
}

/** 420 ms, 2.4 s, 3 min 20 s, 2 h 5 min, 3 d 4 h. */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${DECIMAL.format(seconds)} s`;
  const whole = Math.round(seconds);
  const [d, h, m, s] = [
    Math.floor(whole / 86400),
    Math.floor(whole / 3600) % 24,
    Math.floor(whole / 60) % 60,
    whole % 60,
  ];
  if (d) return h ? `${d} d ${h} h` : `${d} d`;
  if (h) return m ? `${h} h ${m} min` : `${h} h`;
  return s ? `${m} min ${s} s` : `${m} min`;
}

/** Seconds from one ISO time to another. */
export function secondsBetween(from: string, to: string): number {
  return (new Date(to).getTime() - new Date(from).getTime()) / 1000;
}

/** A share of one CPU core, as a worker reports it; unknown as a dash. */
export function cpu(percent: number | null | undefined): string {
  return percent === null || percent === undefined ? "—" : `${percent.toFixed(0)} %`;
}

/** How long ago, from an ISO time: "12 s ago", "4 min ago", "3 h ago", "2 d ago". */
export function ago(at: string, now: number): string {
  const seconds = Math.max(0, Math.round((now - new Date(at).getTime()) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 36 * 3600) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

/** How long until an ISO time: "in 40 s", "in 12 min", "in 5 h", "in 3 d"; "passed" after it. */
export function until(at: string, now: number): string {
  const seconds = Math.round((new Date(at).getTime() - now) / 1000);
  if (seconds <= 0) return "passed";
  if (seconds < 90) return `in ${seconds} s`;
  if (seconds < 90 * 60) return `in ${Math.round(seconds / 60)} min`;
  if (seconds < 36 * 3600) return `in ${Math.round(seconds / 3600)} h`;
  return `in ${Math.round(seconds / 86400)} d`;
}

/** Bytes in binary units: 512 B, 3.4 MiB. */
export function bytes(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? size : DECIMAL.format(size)} ${units[unit]}`;
}

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const TIME = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

export function dateTime(at: string): string {
  return DATE_TIME.format(new Date(at));
}

export function clock(at: string): string {
  return TIME.format(new Date(at));
}
