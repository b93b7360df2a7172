// Stage attempts ended per time bucket, completed above failed, as an SVG bar chart.
import type { Schemas } from "../api/client";
import { clock, count } from "../format";

type Bucket = { at: number; completed: number; failed: number };

/** Each bucket's start in the range, with the API's bucket there, if it sent one: it leaves
 * out the buckets in which nothing happened. */
export function bucketSlots<T extends { at: string }>(
  series: T[],
  start: string,
  end: string,
  bucketSeconds: number,
): Array<[number, T | undefined]> {
  const step = bucketSeconds * 1000;
  const last = new Date(end).getTime();
  const known = new Map(series.map((b) => [new Date(b.at).getTime(), b]));
  const slots: Array<[number, T | undefined]> = [];
  for (let at = new Date(start).getTime(); at < last; at += step) slots.push([at, known.get(at)]);
  return slots;
}

/** Every bucket of the range, those the API left out (nothing ended in them) as zeros. */
export function fillBuckets(
  series: Schemas["BucketView"][],
  start: string,
  end: string,
  bucketSeconds: number,
): Bucket[] {
  return bucketSlots(series, start, end, bucketSeconds).map(([at, bucket]) => ({
    at,
    completed: bucket?.completed ?? 0,
    failed: bucket?.failed ?? 0,
  }));
}

const WIDTH = 600;
const HEIGHT = 140;

export function ThroughputChart({ insights }: { insights: Schemas["InsightsView"] }) {
  const buckets = fillBuckets(insights.series, insights.start, insights.end, insights.bucketSeconds);
  const highest = Math.max(1, ...buckets.map((b) => b.completed + b.failed));
  const width = WIDTH / Math.max(1, buckets.length);
  const total = buckets.reduce((sum, b) => sum + b.completed + b.failed, 0);
  const failed = buckets.reduce((sum, b) => sum + b.failed, 0);
  const y = (value: number) => (value / highest) * (HEIGHT - 4);
  return (
    <figure>
      <svg
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        preserveAspectRatio="none"
        className="h-36 w-full"
        role="img"
        aria-label={`${count(total)} attempts ended in the range, ${count(failed)} of them not completed; at most ${count(highest)} in one bucket of ${insights.bucketSeconds} s`}
      >
        <line
          x1={0}
          x2={WIDTH}
          y1={HEIGHT - 0.5}
          y2={HEIGHT - 0.5}
          className="stroke-slate-300 dark:stroke-slate-700"
        />
        {buckets.map((b, i) => (
          <g key={b.at}>
            <title>{`${clock(new Date(b.at).toISOString())}: ${b.completed} completed, ${b.failed} not`}</title>
            <rect
              x={i * width + 0.5}
              width={Math.max(0.5, width - 1)}
              y={HEIGHT - y(b.completed)}
              height={y(b.completed)}
              className="fill-sky-500"
            />
            <rect
              x={i * width + 0.5}
              width={Math.max(0.5, width - 1)}
              y={HEIGHT - y(b.completed) - y(b.failed)}
              height={y(b.failed)}
              className="fill-red-500"
            />
          </g>
        ))}
      </svg>
      <figcaption className="mt-1 flex justify-between text-xs text-muted">
        <span>{clock(insights.start)}</span>
        <span>
          <span className="mr-1 inline-block size-2 bg-sky-500" aria-hidden /> completed
          <span className="mr-1 ml-3 inline-block size-2 bg-red-500" aria-hidden /> failed or lost · peak{" "}
          {count(highest)} per {insights.bucketSeconds} s
        </span>
        <span>{clock(insights.end)}</span>
      </figcaption>
    </figure>
  );
}
