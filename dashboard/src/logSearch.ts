// The Logs page's search as the address keeps it, and the words of it to mark in each line.

export const WINDOWS = ["15m", "1h", "24h", "7d", "all"] as const;
export type Window = (typeof WINDOWS)[number];
const WINDOW_SECONDS: Record<Window, number | null> = {
  "15m": 900,
  "1h": 3600,
  "24h": 86_400,
  "7d": 7 * 86_400,
  all: null,
};

/** The start of a window ending now, for the `from` of a search; undefined for "all". */
export function windowStart(window: Window, now: number): string | undefined {
  const seconds = WINDOW_SECONDS[window];
  return seconds === null ? undefined : new Date(now - seconds * 1000).toISOString();
}

/**
 * The words a search looks for, to mark them in the lines found: quoted phrases are split
 * into their words; words left out (`-retry`) and the `or` between words are not looked for.
 * The server matches whole words in any case, and so does the marking.
 */
export function searchedWords(q: string): string[] {
  const words = new Set<string>();
  for (const match of q.matchAll(/(-?)"([^"]*)"?|(-?)(\S+)/g)) {
    const excluded = match[1] === "-" || match[3] === "-";
    const text = match[2] ?? match[4] ?? "";
    if (excluded || (match[4] && text.toLowerCase() === "or")) continue;
    for (const word of text.split(/[^\p{L}\p{N}_]+/u)) if (word) words.add(word.toLowerCase());
  }
  return [...words];
}

/** `message` cut into pieces, those that are one of `words` marked. */
export function markWords(message: string, words: string[]): Array<{ text: string; marked: boolean }> {
  if (!words.length) return [{ text: message, marked: false }];
  const escaped = words.map((word) => word.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}_])(${escaped.join("|")})(?![\\p{L}\\p{N}_])`, "giu");
  const pieces: Array<{ text: string; marked: boolean }> = [];
  let last = 0;
  for (const match of message.matchAll(pattern)) {
    if (match.index > last) pieces.push({ text: message.slice(last, match.index), marked: false });
    pieces.push({ text: match[0], marked: true });
    last = match.index + match[0].length;
  }
  if (last < message.length) pieces.push({ text: message.slice(last), marked: false });
  return pieces;
}
