"""Pipeline definitions and their versions: saving, the review lifecycle, and finding the
version a run asks for.

A version moves ``draft -> in_review -> published``; ``reject`` and ``withdraw`` send it back
to draft, and any version not yet archived may be archived. A published version never
changes: saving a definition whose latest version is published (or archived) starts a new
draft. Each move is one guarded statement, audited in its transaction. Nobody who wrote a
version may approve it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg
import msgspec

from controlplane.engine.access.audit import Actor, record
from controlplane.engine.definitions.documents import Document, Path, check
from controlplane.errors import Conflict, Forbidden, NotFound

VersionStatus = Literal["draft", "in_review", "published", "archived"]


@dataclass(frozen=True)
class Version:
    id: uuid.UUID
    definition_id: uuid.UUID
    application_id: uuid.UUID
    name: str
    version: int
    status: VersionStatus
    spec: dict[str, Any]
    author_ids: list[uuid.UUID | None]
    author_names: list[str]
    submitted_at: dt.datetime | None
    reviewed_by_name: str | None
    review_comment: str | None
    reviewed_at: dt.datetime | None
    published_at: dt.datetime | None
    archived_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    def document(self) -> Document:
        return msgspec.convert(self.spec, Document)


_VERSION_COLUMNS = """
v.id, v.definition_id, v.application_id, d.name, v.version, v.status, v.spec, v.author_ids,
v.author_names, v.submitted_at, v.reviewed_by_name, v.review_comment, v.reviewed_at,
v.published_at, v.archived_at, v.created_at, v.updated_at
"""


def _version(row: asyncpg.Record) -> Version:
    return Version(**dict(row))


@dataclass(frozen=True)
class Saved:
    version: Version
    # False when the document was the same as the latest version's: nothing was written.
    changed: bool
    created: bool = False


def _same(spec: Any, other: Any) -> bool:
    # Key order counts: what is exported must be what was saved.
    return bool(msgspec.json.encode(spec) == msgspec.json.encode(other))


# -- saving ---------------------------------------------------------------------------------------

_CREATE = """
WITH d AS (
    INSERT INTO definitions (application_id, name) VALUES ($1, $2)
    ON CONFLICT (application_id, name) DO NOTHING
    RETURNING id, name
)
INSERT INTO definition_versions (definition_id, application_id, version, spec, author_ids,
                                 author_names)
SELECT d.id, $1, 1, $3, ARRAY[$4::uuid], ARRAY[$5] FROM d
RETURNING id
"""

_LOCK_BY_NAME = """
SELECT id FROM definitions WHERE application_id = $1 AND name = $2 FOR UPDATE
"""

_LATEST = f"""
SELECT {_VERSION_COLUMNS} FROM definition_versions v JOIN definitions d ON d.id = v.definition_id
WHERE v.definition_id = $1 ORDER BY v.version DESC LIMIT 1
"""

_BY_ID = f"""
SELECT {_VERSION_COLUMNS} FROM definition_versions v JOIN definitions d ON d.id = v.definition_id
WHERE v.id = $1
"""

# An edit of the open draft: its writers gain the editor.
_EDIT_DRAFT = """
UPDATE definition_versions SET
    spec = $2,
    author_ids = CASE WHEN array_position(author_ids, $3::uuid) IS NOT NULL THEN author_ids
                      ELSE array_append(author_ids, $3::uuid) END,
    author_names = CASE WHEN array_position(author_names, $4) IS NOT NULL THEN author_names
                        ELSE array_append(author_names, $4) END,
    updated_at = now()
WHERE id = $1 AND status = 'draft'
RETURNING id
"""

_NEW_DRAFT = """
INSERT INTO definition_versions (definition_id, application_id, version, spec, author_ids,
                                 author_names)
VALUES ($1, $2, $3, $4, ARRAY[$5::uuid], ARRAY[$6])
RETURNING id
"""

_TOUCH = "UPDATE definitions SET updated_at = now() WHERE id = $1"


async def save(
    pool: asyncpg.Pool,
    actor: Actor,
    application_id: uuid.UUID,
    raw: Any,
    *,
    max_input_bytes: int,
    document: Document | None = None,
    definition_id: uuid.UUID | None = None,
    locate: Callable[[Path], tuple[int, int] | None] | None = None,
    submit: bool = False,
    templates: Collection[str],
) -> Saved:
    """Save a document as the definition's draft: creates the definition (version 1) if
    its name is new, edits the open draft, or starts a new draft after a published or
    archived version. A document the same as the latest version changes nothing.

    ``definition_id``, when given, must be the document's definition (a rename is refused).
    ``templates``: those known to the application (see templates.known_templates), the only
    ones a stage may name. ``document``: ``raw``, checked already against them (see
    read_checked); otherwise it is checked here, and ``locate`` finds a path of the document
    in its file, for the positions of problems. With ``submit``, a draft goes on to review.
    """
    if document is None:
        document = check(raw, max_input_bytes=max_input_bytes, locate=locate, templates=templates)
    saved = await _save(pool, actor, application_id, raw, document, definition_id)
    if submit and saved.version.status == "draft":
        version = await move(pool, actor, saved.version, "submit")
        saved = Saved(version, changed=True, created=saved.created)
    return saved


async def _save(
    pool: asyncpg.Pool,
    actor: Actor,
    application_id: uuid.UUID,
    raw: Any,
    document: Document,
    definition_id: uuid.UUID | None,
) -> Saved:
    async with pool.acquire() as connection, connection.transaction():
        # One writer per definition at a time: edits never race into two drafts.
        locked = await connection.fetchval(_LOCK_BY_NAME, application_id, document.name)
        if definition_id is not None and locked != definition_id:
            raise Conflict(
                "definition_renamed",
                f"the document names {document.name!r}; a definition keeps its name",
            )
        if locked is None:
            created = await connection.fetchval(
                _CREATE, application_id, document.name, raw, actor.user_id, actor.name
            )
            if created is None:  # created by someone else since the lock was looked for
                raise Conflict("definition_exists", f"{document.name!r} was just created")
            version = _version(await connection.fetchrow(_BY_ID, created))
            await _audit(connection, actor, "definition.created", version)
            return Saved(version, changed=True, created=True)
        latest = _version(await connection.fetchrow(_LATEST, locked))
        if _same(latest.spec, raw):
            return Saved(latest, changed=False)
        if latest.status == "in_review":
            raise Conflict(
                "version_in_review",
                f"version {latest.version} is in review; withdraw it before editing",
            )
        if latest.status == "draft":
            saved = await connection.fetchval(
                _EDIT_DRAFT, latest.id, raw, actor.user_id, actor.name
            )
        else:
            saved = await connection.fetchval(
                _NEW_DRAFT,
                locked,
                application_id,
                latest.version + 1,
                raw,
                actor.user_id,
                actor.name,
            )
        await connection.execute(_TOUCH, locked)
        version = _version(await connection.fetchrow(_BY_ID, saved))
        await _audit(connection, actor, "definition.draft_saved", version)
        return Saved(version, changed=True)


async def _audit(
    connection: asyncpg.Connection,
    actor: Actor,
    action: str,
    version: Version,
    details: dict[str, Any] | None = None,
) -> None:
    await record(
        connection,
        actor,
        action,
        "definition",
        version.definition_id,
        {"name": version.name, "version": version.version, **(details or {})},
    )


# -- the review lifecycle ---------------------------------------------------------------------

Move = Literal["submit", "withdraw", "approve", "reject", "archive"]

# The statuses each move starts from, and the statement that makes it. $2, $3, $4: the
# reviewer's id and name and their comment (used by approve and reject).
_MOVES: dict[Move, tuple[tuple[VersionStatus, ...], str]] = {
    "submit": (
        ("draft",),
        """UPDATE definition_versions SET status = 'in_review', submitted_at = now(),
               reviewed_by = NULL, reviewed_by_name = NULL, review_comment = NULL,
               reviewed_at = NULL, updated_at = now()
           WHERE id = $1 AND status = 'draft'""",
    ),
    "withdraw": (
        ("in_review",),
        """UPDATE definition_versions SET status = 'draft', submitted_at = NULL,
               updated_at = now()
           WHERE id = $1 AND status = 'in_review'""",
    ),
    "approve": (
        ("in_review",),
        """UPDATE definition_versions SET status = 'published', reviewed_by = $2,
               reviewed_by_name = $3, review_comment = $4, reviewed_at = now(),
               published_at = now(), updated_at = now()
           WHERE id = $1 AND status = 'in_review' AND $2::uuid IS NOT NULL
             AND array_position(author_ids, $2::uuid) IS NULL""",
    ),
    "reject": (
        ("in_review",),
        """UPDATE definition_versions SET status = 'draft', reviewed_by = $2,
               reviewed_by_name = $3, review_comment = $4, reviewed_at = now(),
               submitted_at = NULL, updated_at = now()
           WHERE id = $1 AND status = 'in_review'""",
    ),
    "archive": (
        ("draft", "in_review", "published"),
        """UPDATE definition_versions SET status = 'archived', archived_at = now(),
               updated_at = now()
           WHERE id = $1 AND status IN ('draft', 'in_review', 'published')""",
    ),
}

_ACTIONS: dict[Move, str] = {
    "submit": "definition.submitted",
    "withdraw": "definition.withdrawn",
    "approve": "definition.published",
    "reject": "definition.rejected",
    "archive": "definition.archived",
}


async def move(
    pool: asyncpg.Pool,
    actor: Actor,
    version: Version,
    step: Move,
    comment: str | None = None,
) -> Version:
    """Move ``version`` one step in its lifecycle; 409 ``invalid_transition`` from a status
    the step does not start from, 403 ``self_approval`` when a writer of the version
    approves it."""
    starts, statement = _MOVES[step]
    async with pool.acquire() as connection, connection.transaction():
        arguments: list[Any] = [version.id]
        if step in ("approve", "reject"):
            arguments += [actor.user_id, actor.name, comment]
        moved = await connection.execute(statement, *arguments)
        current = _version(await connection.fetchrow(_BY_ID, version.id))
        if moved.endswith(" 0"):
            if current.status in starts and step == "approve" and actor.user_id is None:
                raise Forbidden("reviewer_required", "only a person may approve a version")
            if current.status in starts and step == "approve":
                raise Forbidden(
                    "self_approval",
                    f"you wrote version {current.version}; someone else must approve it",
                )
            raise Conflict(
                "invalid_transition",
                f"version {current.version} is {current.status}; {step} needs a version that "
                f"is {' or '.join(starts)}",
                versionStatus=current.status,
            )
        await connection.execute(_TOUCH, version.definition_id)
        await _audit(
            connection, actor, _ACTIONS[step], current, {"comment": comment} if comment else None
        )
    return current


# -- deleting ---------------------------------------------------------------------------------

# Locks the definition's schedules, then the definition (in this order: a schedule firing
# holds its schedule while it starts a run, and that run needs the definition). The guarded
# DELETE after them reads a snapshot of its own: a run whose insert had the definition first
# has committed by then, and is seen. Without the locks, the DELETE could start before such
# a run commits, wait for it, and then delete anyway, leaving the run without its definition.
_LOCK_SCHEDULES = "SELECT id FROM schedules WHERE definition_id = $1 FOR UPDATE"
_LOCK_DEFINITION = "SELECT id FROM definitions WHERE id = $1 FOR UPDATE"

# Only a definition no stored pipeline was run from (pipelines retention deleted count no
# more); its versions and schedules, with their fires, go with it (they cascade).
_DELETE = """
DELETE FROM definitions d
WHERE d.id = $1 AND NOT EXISTS (SELECT 1 FROM pipelines p WHERE p.definition_id = d.id)
RETURNING d.name,
    (SELECT count(*) FROM definition_versions v WHERE v.definition_id = d.id) AS versions,
    (SELECT count(*) FROM schedules s WHERE s.definition_id = d.id) AS schedules
"""

_RUNS = "SELECT count(*) FROM pipelines WHERE definition_id = $1"


async def delete_definition(pool: asyncpg.Pool, actor: Actor, definition_id: uuid.UUID) -> None:
    """Delete a definition with all its versions and schedules, audited; 409
    ``definition_has_runs`` if a pipeline was run from it, 404 if there is none."""
    async with pool.acquire() as connection, connection.transaction():
        # Those locks are held briefly by others (a save, a fire): a longer wait is refused.
        await connection.execute("SET LOCAL lock_timeout = '5s'")
        try:
            await connection.execute(_LOCK_SCHEDULES, definition_id)
            locked = await connection.fetchval(_LOCK_DEFINITION, definition_id)
        except asyncpg.LockNotAvailableError:
            raise Conflict(
                "definition_busy", "the definition is being changed or run; try again"
            ) from None
        if locked is None:
            raise NotFound("definition_not_found", f"no definition {definition_id}")
        deleted = await connection.fetchrow(_DELETE, definition_id)
        if deleted is None:
            runs = await connection.fetchval(_RUNS, definition_id)
            raise Conflict(
                "definition_has_runs",
                f"{runs} pipeline{'s were' if runs != 1 else ' was'} run from the definition; "
                "a definition with runs stays (archive its versions instead)",
                runs=runs,
            )
        await record(
            connection,
            actor,
            "definition.deleted",
            "definition",
            definition_id,
            {
                "name": deleted["name"],
                "versions": deleted["versions"],
                "schedules": deleted["schedules"],
            },
        )


# -- reading ----------------------------------------------------------------------------------

_VERSION = f"""
SELECT {_VERSION_COLUMNS} FROM definition_versions v JOIN definitions d ON d.id = v.definition_id
WHERE v.definition_id = $1 AND v.version = $2
"""

_VERSIONS = f"""
SELECT {_VERSION_COLUMNS} FROM definition_versions v JOIN definitions d ON d.id = v.definition_id
WHERE v.definition_id = $1 ORDER BY v.version DESC
"""


async def read_version(pool: asyncpg.Pool, definition_id: uuid.UUID, number: int) -> Version:
    row = await pool.fetchrow(_VERSION, definition_id, number)
    if row is None:
        raise NotFound("version_not_found", f"the definition has no version {number}")
    return _version(row)


async def read_versions(pool: asyncpg.Pool, definition_id: uuid.UUID) -> list[Version]:
    """Every version of a definition, newest first."""
    return [_version(row) for row in await pool.fetch(_VERSIONS, definition_id)]


@dataclass(frozen=True)
class Definition:
    id: uuid.UUID
    application_id: uuid.UUID
    application_name: str
    name: str
    description: str | None
    latest_version: int
    latest_status: VersionStatus
    published_version: int | None
    runs: int
    last_run_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


_DEFINITIONS = """
SELECT d.id, d.application_id, a.name AS application_name, d.name,
       latest.spec ->> 'description' AS description,
       latest.version AS latest_version, latest.status AS latest_status,
       (SELECT max(p.version) FROM definition_versions p
        WHERE p.definition_id = d.id AND p.status = 'published') AS published_version,
       (SELECT count(*) FROM pipelines r WHERE r.definition_id = d.id) AS runs,
       (SELECT max(r.created_at) FROM pipelines r WHERE r.definition_id = d.id) AS last_run_at,
       d.created_at, d.updated_at
FROM definitions d
JOIN applications a ON a.id = d.application_id
CROSS JOIN LATERAL (
    SELECT v.version, v.status, v.spec FROM definition_versions v
    WHERE v.definition_id = d.id ORDER BY v.version DESC LIMIT 1
) latest
WHERE ($1::uuid IS NULL OR EXISTS (
          SELECT 1 FROM memberships m WHERE m.application_id = d.application_id
          AND m.user_id = $1))
  AND ($2::uuid IS NULL OR d.application_id = $2)
  AND ($3::uuid IS NULL OR d.id = $3)
ORDER BY d.name, a.name
"""


async def list_definitions(
    pool: asyncpg.Pool,
    *,
    member: uuid.UUID | None = None,
    application_id: uuid.UUID | None = None,
    definition_id: uuid.UUID | None = None,
) -> list[Definition]:
    """Definitions of the applications ``member`` belongs to (every one for None)."""
    rows = await pool.fetch(_DEFINITIONS, member, application_id, definition_id)
    return [Definition(**dict(row)) for row in rows]


async def read_definition(pool: asyncpg.Pool, definition_id: uuid.UUID) -> Definition | None:
    found = await list_definitions(pool, definition_id=definition_id)
    return found[0] if found else None


# -- versions by name --------------------------------------------------------------------------

# The version ``$3`` of the definition named ``$2`` (the newest if NULL), published only if $4.
_BY_NAME = f"""
SELECT {_VERSION_COLUMNS} FROM definition_versions v JOIN definitions d ON d.id = v.definition_id
WHERE d.application_id = $1 AND d.name = $2
  AND ($3::int IS NULL OR v.version = $3) AND (NOT $4 OR v.status = 'published')
ORDER BY v.version DESC LIMIT 1
"""

_ANY_VERSION = """
SELECT v.status FROM definition_versions v JOIN definitions d ON d.id = v.definition_id
WHERE d.application_id = $1 AND d.name = $2 AND ($3::int IS NULL OR v.version = $3)
ORDER BY v.version DESC LIMIT 1
"""

_NEWEST_PUBLISHED = f"""
SELECT DISTINCT ON (d.name) {_VERSION_COLUMNS}
FROM definition_versions v JOIN definitions d ON d.id = v.definition_id
WHERE v.application_id = $1 AND v.status = 'published'
ORDER BY d.name, v.version DESC
"""


async def runnable_version(
    pool: asyncpg.Pool, application_id: uuid.UUID, name: str, number: int | None
) -> Version:
    """The published version ``number`` of the definition, or its latest published one."""
    return await _by_name(pool, application_id, name, number, published=True)


async def version_by_name(
    pool: asyncpg.Pool, application_id: uuid.UUID, name: str, number: int
) -> Version:
    """Version ``number`` of the definition, in whatever status."""
    return await _by_name(pool, application_id, name, number, published=False)


async def newest_published(pool: asyncpg.Pool, application_id: uuid.UUID) -> list[Version]:
    """The newest published version of each of the application's definitions, by name."""
    return [_version(row) for row in await pool.fetch(_NEWEST_PUBLISHED, application_id)]


async def _by_name(
    pool: asyncpg.Pool,
    application_id: uuid.UUID,
    name: str,
    number: int | None,
    *,
    published: bool,
) -> Version:
    row = await pool.fetchrow(_BY_NAME, application_id, name, number, published)
    if row is not None:
        return _version(row)
    status = await pool.fetchval(_ANY_VERSION, application_id, name, number)
    which = f"version {number} of {name!r}" if number else f"{name!r}"
    if status is None:
        if number is not None and await pool.fetchval(_ANY_VERSION, application_id, name, None):
            raise NotFound("version_not_found", f"there is no {which}")
        raise NotFound("definition_not_found", f"there is no {which}")
    raise Conflict(
        "version_not_published",
        f"{which} is not published ({status}); only published versions run",
    )
