// What each role may do, as the internal API decides it (docs/internal-api.md, "Roles"). The
// dashboard hides or disables what a role may not do; the API refuses it anyway.
export type Role = "admin" | "developer" | "operator";

export type Permission =
  | "operate" // cancel, rerun, skip
  | "change_policies"
  | "write_definitions" // save, import, review, archive and delete pipeline definitions; create, change and delete schedules
  | "upload_data" // upload files as datasets
  | "review_quarantine" // release or discard quarantined rows
  | "manage_alerts" // alert rules and channels (every role acknowledges and resolves alerts)
  | "administer"; // applications, keys, users, the audit log, housekeeping

const GRANTS: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set([
    "operate",
    "change_policies",
    "write_definitions",
    "upload_data",
    "review_quarantine",
    "manage_alerts",
    "administer",
  ]),
  developer: new Set([
    "operate",
    "change_policies",
    "write_definitions",
    "upload_data",
    "review_quarantine",
    "manage_alerts",
  ]),
  operator: new Set(["operate"]),
};

export function may(role: string | undefined, permission: Permission): boolean {
  return role !== undefined && role in GRANTS && GRANTS[role as Role].has(permission);
}
