// The few building blocks every page uses: buttons, a confirmation (Radix AlertDialog), a form
// dialog (Radix Dialog), and the loading, error and empty states.
import { AlertDialog, Dialog } from "radix-ui";
import type { ReactNode } from "react";

type Kind = "default" | "primary" | "danger";

const KINDS: Record<Kind, string> = {
  default:
    "border-slate-300 bg-white hover:bg-slate-50 dark:border-slate-600 dark:bg-slate-900 dark:hover:bg-slate-800",
  primary: "border-sky-700 bg-sky-700 text-white hover:bg-sky-800",
  danger:
    "border-red-300 bg-white text-red-800 hover:bg-red-50 dark:border-red-800 dark:bg-slate-900 dark:text-red-200 dark:hover:bg-red-950",
};

/** A tab of a Radix Tabs list: underlined while active. */
export const TAB =
  "border-b-2 border-transparent px-3 py-1.5 text-sm text-slate-600 data-[state=active]:border-sky-600 data-[state=active]:font-medium data-[state=active]:text-slate-900 dark:text-slate-300 dark:data-[state=active]:text-white";

export function buttonClass(kind: Kind = "default", small = false): string {
  const size = small ? "px-2 py-0.5 text-xs" : "px-3 py-1 text-sm";
  return `inline-flex items-center gap-1 rounded border font-medium disabled:cursor-not-allowed disabled:opacity-40 ${size} ${KINDS[kind]}`;
}

export const inputClass =
  "rounded border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-600 dark:bg-slate-900";

type ConfirmProps = {
  /** The button that asks. */
  label: string;
  title: string;
  description?: ReactNode;
  confirmLabel?: string;
  onConfirm: () => void;
  kind?: Kind;
  small?: boolean;
  disabled?: boolean;
};

/** A button whose action runs only once the dialog it opens is confirmed. */
export function ConfirmButton({
  label,
  title,
  description,
  confirmLabel,
  onConfirm,
  kind,
  small,
  disabled,
}: ConfirmProps) {
  return (
    <AlertDialog.Root>
      <AlertDialog.Trigger className={buttonClass(kind, small)} disabled={disabled}>
        {label}
      </AlertDialog.Trigger>
      <AlertDialog.Portal>
        <AlertDialog.Overlay className="fixed inset-0 z-40 bg-black/40" />
        <AlertDialog.Content className="fixed top-1/3 left-1/2 z-50 w-[min(28rem,90vw)] -translate-x-1/2 rounded-lg border border-slate-200 bg-white p-5 shadow-xl dark:border-slate-700 dark:bg-slate-900">
          <AlertDialog.Title className="text-base font-semibold">{title}</AlertDialog.Title>
          <AlertDialog.Description className="mt-2 text-sm text-slate-600 dark:text-slate-300">
            {description ?? "This cannot be undone."}
          </AlertDialog.Description>
          <div className="mt-5 flex justify-end gap-2">
            <AlertDialog.Cancel className={buttonClass()}>Keep as it is</AlertDialog.Cancel>
            <AlertDialog.Action
              className={buttonClass(kind === "danger" ? "danger" : "primary")}
              onClick={onConfirm}
            >
              {confirmLabel ?? label}
            </AlertDialog.Action>
          </div>
        </AlertDialog.Content>
      </AlertDialog.Portal>
    </AlertDialog.Root>
  );
}

type ModalProps = {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  title: string;
  children: ReactNode;
};

/** A dialog holding a form; Escape or a click outside closes it. */
export function Modal({ open, onOpenChange, title, children }: ModalProps) {
  return (
    <Dialog.Root open={open} onOpenChange={onOpenChange}>
      <Dialog.Portal>
        <Dialog.Overlay className="fixed inset-0 z-40 bg-black/40" />
        <Dialog.Content
          aria-describedby={undefined}
          className="fixed top-1/2 left-1/2 z-50 max-h-[90vh] w-[min(32rem,92vw)] -translate-x-1/2 -translate-y-1/2 overflow-auto rounded-lg border border-slate-200 bg-white p-5 shadow-xl dark:border-slate-700 dark:bg-slate-900"
        >
          <div className="mb-4 flex items-start justify-between gap-4">
            <Dialog.Title className="text-base font-semibold">{title}</Dialog.Title>
            <Dialog.Close
              aria-label="Close"
              className="rounded px-1.5 text-lg leading-none text-muted hover:bg-slate-100 dark:hover:bg-slate-800"
            >
              ×
            </Dialog.Close>
          </div>
          {children}
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}

export type Column =
  | string
  | { label: ReactNode; className?: string; hidden?: boolean; sort?: "ascending" | "descending" | "none" };

/** A table with a header row of `columns`; `children` is its tbody. Wide ones scroll sideways. */
export function Table({
  columns,
  minWidth,
  className = "",
  children,
}: {
  columns: Column[];
  minWidth?: string;
  className?: string;
  children: ReactNode;
}) {
  return (
    <div className="overflow-x-auto">
      <table className={`w-full text-left text-sm ${className}`} style={minWidth ? { minWidth } : undefined}>
        <thead className="border-b border-slate-300 text-muted dark:border-slate-700">
          <tr>
            {columns.map((column, index) => {
              const {
                label,
                className = "",
                hidden,
                sort,
              } = typeof column === "string" ? { label: column } : column;
              return (
                <th key={index} aria-sort={sort} className={`py-2 font-medium ${className}`}>
                  {hidden ? <span className="sr-only">{label}</span> : label}
                </th>
              );
            })}
          </tr>
        </thead>
        {children}
      </table>
    </div>
  );
}

/** Newer and Older buttons of a paged table whose offset lives in the URL. */
export function PageNav({
  offset,
  size,
  hasMore,
  onOffset,
}: {
  offset: number;
  size: number;
  hasMore: boolean | undefined;
  onOffset: (offset: number) => void;
}) {
  return (
    <nav className="mt-4 flex gap-2" aria-label="pages">
      <button
        disabled={offset === 0}
        onClick={() => onOffset(Math.max(0, offset - size))}
        className={buttonClass()}
      >
        Newer
      </button>
      <button disabled={!hasMore} onClick={() => onOffset(offset + size)} className={buttonClass()}>
        Older
      </button>
    </nav>
  );
}

/** The next, older page of an infinite query, while there is one. */
export function OlderButton({
  query,
  label,
}: {
  query: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => Promise<unknown> };
  label: string;
}) {
  if (!query.hasNextPage) return null;
  return (
    <button
      className={`${buttonClass()} mt-3`}
      disabled={query.isFetchingNextPage}
      onClick={() => void query.fetchNextPage()}
    >
      {label}
    </button>
  );
}

/** Grey bars where rows will be, so the page does not jump when they arrive. */
export function Loading({ rows = 5, label = "Loading" }: { rows?: number; label?: string }) {
  return (
    <div role="status" aria-label={label} className="space-y-2 py-2">
      {Array.from({ length: rows }, (_, i) => (
        <div key={i} className="h-7 animate-pulse rounded bg-slate-100 dark:bg-slate-800" />
      ))}
    </div>
  );
}

export function ErrorNote({ what, error }: { what: string; error: Error }) {
  return (
    <p
      role="alert"
      className="rounded border border-red-200 bg-red-50 p-3 text-sm text-red-900 dark:border-red-900 dark:bg-red-950 dark:text-red-100"
    >
      Could not load {what}: {error.message}
    </p>
  );
}

/** A page's title, with its controls (filters, a "New …" button) to the right. */
export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="mb-4 flex flex-wrap items-center gap-3">
      <h1 className="mr-auto text-xl font-semibold">{title}</h1>
      {children}
    </div>
  );
}

/** What went wrong with an action or a form, said where it happened; nothing when all is well. */
export function ErrorText({
  error,
  className = "",
}: {
  error: Error | string | null | undefined;
  className?: string;
}) {
  if (!error) return null;
  return (
    <p role="alert" className={`text-sm text-red-700 dark:text-red-300 ${className}`}>
      {typeof error === "string" ? error : error.message}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="py-10 text-center text-sm text-muted">{children}</p>;
}

export function Card({
  title,
  children,
  className = "",
}: {
  title?: string;
  children: ReactNode;
  className?: string;
}) {
  return (
    <section className={`rounded-lg border border-slate-200 p-4 dark:border-slate-800 ${className}`}>
      {title && <h2 className="mb-3 text-sm font-semibold text-slate-600 dark:text-slate-300">{title}</h2>}
      {children}
    </section>
  );
}

/** A query's three states in one place: loading bars, the error, or the content. */
export function Loaded<T>({
  query,
  what,
  rows,
  children,
}: {
  query: { isPending: boolean; isError: boolean; error: Error | null; data: T | undefined };
  what: string;
  rows?: number;
  children: (data: T) => ReactNode;
}) {
  if (query.isError && query.error) return <ErrorNote what={what} error={query.error} />;
  if (query.isPending || query.data === undefined) return <Loading rows={rows} label={`Loading ${what}`} />;
  return <>{children(query.data)}</>;
}
