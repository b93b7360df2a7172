// A choice among the applications the user sees, with an "any" entry when `anyLabel` is given.
import { useApplications } from "../queries";
import { inputClass } from "./ui";

type Props = { value: string; onChange: (id: string) => void; anyLabel?: string; className?: string };

export function ApplicationSelect({ value, onChange, anyLabel, className = "" }: Props) {
  const applications = useApplications();
  return (
    <select value={value} onChange={(e) => onChange(e.target.value)} className={`${inputClass} ${className}`}>
      {anyLabel !== undefined && <option value="">{anyLabel}</option>}
      {applications.data?.map((a) => (
        <option key={a.id} value={a.id}>
          {a.displayName ?? a.name}
        </option>
      ))}
    </select>
  );
}
