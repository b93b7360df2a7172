// The time range of the figures on a page, as a group of toggle buttons (Radix ToggleGroup).
import { ToggleGroup } from "radix-ui";

import { RANGES, type Range } from "../queries";

export function RangePicker({ value, onChange }: { value: Range; onChange: (range: Range) => void }) {
  return (
    <WindowPicker
      options={Object.keys(RANGES) as Range[]}
      value={value}
      onChange={onChange}
      label="time range"
    />
  );
}

/** One of a few windows ("1h", "24h", …), each a toggle button; `label` names the group. */
export function WindowPicker<T extends string>({
  options,
  value,
  onChange,
  label,
}: {
  options: readonly T[];
  value: T;
  onChange: (window: T) => void;
  label: string;
}) {
  return (
    <ToggleGroup.Root
      type="single"
      value={value}
      onValueChange={(next) => next && onChange(next as T)}
      aria-label={label}
      className="inline-flex rounded border border-slate-300 text-sm dark:border-slate-600"
    >
      {options.map((range) => (
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
