// The time range of the figures on a page, as a group of toggle buttons (Radix ToggleGroup).
import { ToggleGroup } from "radix-ui";

import { RANGES, type Range } from "../queries";

export function RangePicker({ value, onChange }: { value: Range; onChange: (range: Range) => void }) {
  return (
    <ToggleGroup.Root
      type="single"
      value={value}
      onValueChange={(next) => next && onChange(next as Range)}
      aria-label="time range"
      className="inline-flex rounded border border-slate-300 text-sm dark:border-slate-600"
    >
      {Object.keys(RANGES).map((range) => (
        <ToggleGroup.Item
          key={range}
          value={range}
          aria-label={`last ${range}`}
          className="px-2.5 py-1 first:rounded-l last:rounded-r data-[state=on]:bg-slate-800 data-[state=on]:text-white dark:data-[state=on]:bg-slate-200 dark:data-[state=on]:text-slate-900"
        >
          {range}
        </ToggleGroup.Item>
      ))}
    </ToggleGroup.Root>
  );
}
