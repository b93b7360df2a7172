"""The dataset templates on small generated files, with Ray running for real on this machine."""

from __future__ import annotations

import csv
import functools
import http.server
import threading
import time
from pathlib import Path
from typing import Any

import lance
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import ray

from tests.system import URL, System, running, sdk_worker
from worker_sdk import AsyncClient
from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError
from worker_sdk.templates import select
from worker_sdk.templates.dataset import roots, runtime, shuffle, sources
from worker_sdk.templates.dataset.aggregate import aggregate
from worker_sdk.templates.dataset.clean import clean
from worker_sdk.templates.dataset.export import export
from worker_sdk.templates.dataset.ingest import ingest
from worker_sdk.templates.dataset.join import join
from worker_sdk.templates.dataset.quality import FAILED_RULES, quality, repeated_values
from worker_sdk.testing import JobEnvironment, TestOutcome

COUNTRIES = ["DE", "FR", "NL"]
# Rows write_orders(bad=True) spoils: n % 37 == 5 for n below 300.
BAD_ROWS = 8


@pytest.fixture(autouse=True)
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIPELOGIQ_LAKE", str(tmp_path / "lake"))
    # The source files are written beside the lake: the test's directory is the data root.
    monkeypatch.setenv("PIPELOGIQ_DATA_ROOTS", str(tmp_path))
    # Small pieces, so that even these small files are read by many tasks at once.
    monkeypatch.setattr(sources, "CHUNK_BYTES", 2_000)
    return tmp_path / "lake"


def write_orders(path: Path, rows: int = 300, *, bad: bool = False) -> Path:
    """Orders; each id from 0 to rows/2 appears twice (a duplicate); ``bad`` spoils a few."""
    with path.open("w", newline="") as file:
        out = csv.writer(file)
        out.writerow(["order_id", "country", "amount", "email", "day"])
        for n in range(rows):
            country, amount, email = COUNTRIES[n % 3], f"{n % 50}.5", f"buyer{n}@shop.test"
            if bad and n % 37 == 5:
                country, amount, email = "", "-3", "nobody"
            padded = f"  {country} " if country else ""
            out.writerow([n % (rows // 2), padded, amount, email, f"2026-01-{n % 5 + 1:02}"])
    return path


def run(template: Any, spec: dict[str, Any], stage: str = "stage", **deps: Any) -> TestOutcome:
    return JobEnvironment(stage_name=stage, dependencies=deps).run(template, spec)


def table_of(output: dict[str, Any], key: str = "dataset") -> pa.Table:
    reference = output[key]
    return lance.dataset(reference["uri"], version=reference["version"]).to_table()


def completed(outcome: TestOutcome) -> dict[str, Any]:
    assert outcome.status == "completed", outcome.error
    return outcome.output


def test_ingest_reads_a_csv_in_pieces_into_one_dataset_version(tmp_path: Path) -> None:
    path = write_orders(tmp_path / "orders.csv")
    output = completed(run(ingest, {"source": str(path)}))
    table = table_of(output)
    # Read by many tasks (one fragment each), yet the same rows as one read of the whole file.
    assert len(lance.dataset(output["dataset"]["uri"]).get_fragments()) > 3
    assert ray.is_initialized()
    expected = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    assert table.sort_by("email").to_pylist() == expected.sort_by("email").to_pylist()
    assert output["dataset"]["rows"] == 300
    assert output["dataset"]["version"] == 1
    assert output["dataset"]["schema"][:3] == [
        {"name": "order_id", "type": "int64"},
        {"name": "country", "type": "string"},
        {"name": "amount", "type": "double"},
    ]
    assert output["lineage"] == {
        "reads": [{"uri": str(path)}],
        "writes": [{"uri": output["dataset"]["uri"], "version": 1}],
    }


@pytest.mark.parametrize("cpus", [1, 2, 3, 8])
def test_csv_is_cut_in_equal_ranges_that_every_cpu_takes_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpus: int
) -> None:
    # Each range becomes a fragment the next steps' tasks take one at a time: a short one left
    # over would leave a core idle at the end of each step.
    monkeypatch.setattr(sources, "CHUNK_BYTES", 4_000)
    monkeypatch.setattr(sources, "MIN_CHUNK_BYTES", 100)
    path = write_orders(tmp_path / "orders.csv", rows=2_000)
    chunk = sources.chunk_bytes([str(path)], cpus)
    pieces = sources.pieces(str(path), "csv", chunk=chunk, splittable=True)
    assert len(pieces) % cpus == 0
    assert len(pieces) >= 2 * cpus
    sizes = [piece.end - piece.start for piece in pieces]
    assert max(sizes) <= 4_000
    assert min(sizes) > 0.95 * max(sizes)  # each off by a line or so, the first by the header
    data = b"".join(sources.read_range(piece).to_pybytes() for piece in pieces)
    assert data == path.read_bytes()[pieces[0].start :]


def test_ingest_takes_a_given_schema_and_appends(tmp_path: Path) -> None:
    path = write_orders(tmp_path / "orders.csv", rows=40)
    spec = {
        "source": str(path),
        "output": "bronze/orders",
        "schema": [
            {"name": "amount", "type": "decimal128(8, 2)"},
            {"name": "day", "type": "string"},
        ],
    }
    first = completed(run(ingest, spec))
    assert first["dataset"]["uri"].endswith("/lake/bronze/orders.lance")
    assert {c["name"]: c["type"] for c in first["dataset"]["schema"]}[
        "amount"
    ] == "decimal128(8, 2)"
    second = completed(run(ingest, {**spec, "mode": "append"}))
    assert (second["dataset"]["version"], second["dataset"]["rows"]) == (2, 80)
    # The first version still holds what it held.
    assert table_of(first).num_rows == 40
    refused = run(ingest, {**spec, "mode": "append", "schema": []})
    assert refused.error is not None
    assert (refused.error.code, refused.error.retryable) == ("schema_mismatch", False)


def test_ingest_reads_json_lines_parquet_globs_and_urls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [{"id": n, "tag": f"t{n % 4}", "score": n / 4} for n in range(200)]
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text(
        "".join(f'{{"id": {r["id"]}, "tag": "{r["tag"]}", "score": {r["score"]}}}\n' for r in rows)
    )
    assert (
        table_of(completed(run(ingest, {"source": str(jsonl)}))).sort_by("id").to_pylist() == rows
    )

    parquet = tmp_path / "parts"
    parquet.mkdir()
    for half in (0, 1):
        pq.write_table(
            pa.Table.from_pylist(rows[half * 100 : half * 100 + 100]),
            parquet / f"{half}.parquet",
            row_group_size=30,
        )
    output = completed(run(ingest, {"source": str(parquet / "*.parquet")}))
    assert table_of(output).sort_by("id").to_pylist() == rows
    assert len(output["lineage"]["reads"]) == 1  # what was named: the glob

    monkeypatch.setenv("PIPELOGIQ_HTTP_ALLOW", "127.0.0.1")  # the test's server: loopback
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/rows.jsonl"
        assert table_of(completed(run(ingest, {"source": url}))).num_rows == 200
        missing = run(ingest, {"source": url.replace("rows", "nothing")})
    finally:
        server.shutdown()
    assert missing.error is not None
    assert missing.error.code == "source_not_found"


class _Redirects(http.server.BaseHTTPRequestHandler):
    """``/rows.jsonl`` is a file; ``/to?<url>`` redirects there; ``/loop`` to itself."""

    paths: list[str] = []

    def do_GET(self) -> None:
        _Redirects.paths.append(f"{self.server.server_address[0]}{self.path}")
        if self.path == "/rows.jsonl":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"id": 1}\n{"id": 2}\n')
            return
        self.send_response(302)
        self.send_header("Location", self.path.partition("?")[2] or "/loop")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_ingest_downloads_only_from_allowed_addresses_on_every_redirect(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two servers: 127.0.0.1 is allowed (as a worker's allow-list may), 127.0.0.2 is not.
    servers = [
        http.server.ThreadingHTTPServer((a, 0), _Redirects) for a in ("127.0.0.1", "127.0.0.2")
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    allowed, other = (f"http://{s.server_address[0]}:{s.server_address[1]}" for s in servers)
    try:
        monkeypatch.setenv("PIPELOGIQ_HTTP_ALLOW", "127.0.0.1")
        # Redirects are followed, to an allowed address...
        followed = {"source": f"{allowed}/to?{allowed}/rows.jsonl", "format": "jsonl"}
        hops = completed(run(ingest, followed))
        assert hops["dataset"]["rows"] == 2
        # ...but never to one that is not, nor on and on.
        for source, code in [
            (f"{allowed}/to?{other}/rows.jsonl", "address_not_allowed"),
            (f"{other}/rows.jsonl", "address_not_allowed"),
            (f"{allowed}/loop", "too_many_redirects"),
            (f"{allowed}/to?file:///etc/passwd", "invalid_redirect"),
        ]:
            refused = run(ingest, {"source": source, "format": "jsonl"})
            assert refused.error is not None
            assert (refused.error.code, refused.error.retryable) == (code, False), source
        assert not [p for p in _Redirects.paths if p.startswith("127.0.0.2")]
        assert _Redirects.paths.count("127.0.0.1/loop") == 6  # the first, then 5 redirects
        # Without the allow-list, loopback is not reached at all.
        monkeypatch.delenv("PIPELOGIQ_HTTP_ALLOW")
        _Redirects.paths.clear()
        unallowed = run(ingest, {"source": f"{allowed}/rows.jsonl"})
        assert unallowed.error is not None
        assert unallowed.error.code == "address_not_allowed"
        assert _Redirects.paths == []
    finally:
        for server in servers:
            server.shutdown()


@pytest.mark.parametrize(
    ("content", "spec", "code"),
    [
        (None, {}, "source_not_found"),
        ("a,b\n1,2\n3,4,5\n", {}, "invalid_data"),
        ("a,b\n1,x\n", {"schema": [{"name": "b", "type": "int64"}]}, "schema_mismatch"),
        ("a,b\n1,2\n", {"schema": [{"name": "c", "type": "int64"}]}, "schema_mismatch"),
        ("a,b\n1,2\n", {"schema": [{"name": "a", "type": "integer-ish"}]}, "invalid_input"),
        ("a,b\n1,2\n", {"format": "xml"}, None),
    ],
)
def test_ingest_fails_for_good_on_bad_input(
    tmp_path: Path, content: str | None, spec: dict[str, Any], code: str | None
) -> None:
    path = tmp_path / "in.csv"
    if content is not None:
        path.write_text(content)
    outcome = run(ingest, {"source": str(path), **spec})
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.code == (code or "invalid_input")
    assert outcome.error.retryable is False


@pytest.fixture
def bronze(tmp_path: Path) -> dict[str, Any]:
    return completed(
        run(ingest, {"source": str(write_orders(tmp_path / "o.csv", bad=True))}, "bronze")
    )


@pytest.mark.parametrize("local_keys", [runtime.LOCAL_KEYS, 0], ids=["in-process", "shuffle"])
def test_clean_trims_casts_and_keeps_the_first_row_of_each_key_across_fragments(
    bronze: dict[str, Any], monkeypatch: pytest.MonkeyPatch, local_keys: int
) -> None:
    # Keys brought together in the job's process, or (past LOCAL_KEYS rows) rows shuffled.
    monkeypatch.setattr(runtime, "LOCAL_KEYS", local_keys)
    spec = {
        "rename": {"day": "order_day"},
        "trim": ["country"],
        "cast": {"order_day": "date32", "amount": "float32"},
        "fillNulls": {"country": "??"},
        "dedupe": ["order_id"],
    }
    output = completed(run(clean, spec, "silver", bronze=bronze))
    table = table_of(output)
    source = table_of(bronze)
    assert output["removed"] == {"duplicates": 150, "nulls": 0}
    assert table.num_rows == 150
    # The first of the two rows of each id (ids repeat every 150 rows) is the one kept.
    assert sorted(table.column("email").to_pylist()) == sorted(
        source.column("email").to_pylist()[:150]
    )
    assert table.schema.field("order_day").type == pa.date32()
    assert set(table.column("country").to_pylist()) == {"DE", "FR", "NL", "??"}
    assert output["lineage"]["reads"] == [{"uri": bronze["dataset"]["uri"], "version": 1}]


def test_both_ways_of_deduping_keep_the_same_rows(
    bronze: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A key made by renaming, trimming and filling, after rows with a null are dropped.
    spec = {
        "rename": {"country": "land"},
        "trim": ["land"],
        "fillNulls": {"land": "??"},
        "dropNulls": ["amount"],
        "dedupe": ["land", "day"],
    }
    here = completed(run(clean, spec, bronze=bronze))
    monkeypatch.setattr(runtime, "LOCAL_KEYS", 0)
    shuffled = completed(run(clean, spec, bronze=bronze))
    assert here["removed"] == shuffled["removed"]
    assert here["removed"]["duplicates"] > 0
    by_key = [("land", "ascending"), ("day", "ascending")]
    assert (
        table_of(here).sort_by(by_key).to_pylist() == table_of(shuffled).sort_by(by_key).to_pylist()
    )


def test_clean_can_null_what_does_not_cast_or_drop_rows(bronze: dict[str, Any]) -> None:
    spec = {"cast": {"email": "int64"}, "castErrors": "null", "select": ["order_id", "email"]}
    output = completed(run(clean, spec, bronze=bronze))
    assert output["castToNull"] == 300
    assert table_of(output).column_names == ["order_id", "email"]
    dropped = completed(run(clean, {"trim": True, "dropNulls": ["country"]}, bronze=bronze))
    assert dropped["removed"]["nulls"] == BAD_ROWS
    assert None not in table_of(dropped).column("country").to_pylist()
    failed = run(clean, {"cast": {"email": "int64"}}, bronze=bronze)
    assert failed.error is not None
    assert failed.error.code == "cast_failed"
    unknown = run(clean, {"rename": {"nope": "x"}}, bronze=bronze)
    assert unknown.error is not None
    assert unknown.error.code == "unknown_column"


RULES = [
    {"check": "not_null", "column": "country"},
    {"check": "unique", "column": "email"},
    {"check": "range", "column": "amount", "min": 0, "max": 49.5},
    {"check": "allowed", "column": "country", "values": ["DE", "FR", "NL"]},
    {"check": "regex", "column": "email", "pattern": "[^@]+@[^@]+"},
]


@pytest.fixture
def silver(bronze: dict[str, Any]) -> dict[str, Any]:
    return completed(run(clean, {"trim": True, "dedupe": ["order_id"]}, "silver", bronze=bronze))


def test_quality_quarantines_failing_rows_and_warns_below_the_threshold(
    silver: dict[str, Any],
) -> None:
    output = completed(run(quality, {"rules": RULES, "failAbove": 0.05}, "checked", silver=silver))
    # Four bad rows survive dedupe (ids 5, 42, 79, 116 come first); each fails four rules,
    # unique(email) among them: all four are "nobody".
    report = output["report"]
    assert (report["status"], report["rows"], report["quarantined"]) == ("warned", 150, 4)
    assert {r["rule"]: r["failed"] for r in report["rules"]} == {
        "not_null(country)": 4,
        "unique(email)": 4,
        "range(amount)": 4,
        "allowed(country)": 0,  # a null says nothing about allowed values
        "regex(email)": 4,
    }
    quarantined = table_of(output, "quarantine")
    assert sorted(quarantined.column("order_id").to_pylist()) == [5, 42, 79, 116]
    assert set(quarantined.column(FAILED_RULES).to_pylist()) == {
        "not_null(country), unique(email), range(amount), regex(email)"
    }
    assert table_of(output).num_rows == 146
    writes = output["lineage"]["writes"]
    assert [w["uri"] for w in writes] == [output["dataset"]["uri"], output["quarantine"]["uri"]]
    assert writes[1]["uri"].endswith("/checked_quarantine.lance")


def test_quality_fails_above_the_threshold_and_on_row_count(silver: dict[str, Any]) -> None:
    failed = run(quality, {"rules": RULES}, silver=silver)
    assert failed.error is not None
    assert (failed.error.code, failed.error.retryable) == ("quality_failed", False)
    assert "4 of 150 rows (2.67%) failed the rules" in failed.error.message
    assert "_quarantine.lance version 1" in failed.error.message
    few = run(quality, {"rowCount": {"min": 151}}, silver=silver)
    assert few.error is not None
    assert few.error.code == "quality_failed"
    assert completed(run(quality, {"rowCount": {"min": 150, "max": 150}}, silver=silver))


@pytest.mark.parametrize("local_keys", [runtime.LOCAL_KEYS, 0], ids=["in-process", "shuffle"])
@pytest.mark.parametrize("column", ["order_id", "email", "day"])
def test_quality_finds_duplicates_across_fragments(
    bronze: dict[str, Any], monkeypatch: pytest.MonkeyPatch, local_keys: int, column: str
) -> None:
    # Counted in the job's process, or (a dataset past LOCAL_KEYS rows) shuffled across tasks.
    monkeypatch.setattr(runtime, "LOCAL_KEYS", local_keys)
    output = run(quality, {"rules": [{"check": "unique", "column": column}]}, bronze=bronze)
    assert output.error is not None
    if column == "order_id":
        assert "300 of 300 rows" in output.error.message  # every id is there twice, far apart
    elif column == "day":
        assert "300 of 300 rows" in output.error.message  # five days among 300 rows
    else:
        assert output.error.code == "quality_failed"
        assert "failed the rules" in output.error.message
    by_value = run(
        quality,
        {"rules": [{"check": "unique", "column": column}], "failAbove": 1},
        bronze=bronze,
    )
    quarantined = table_of(completed(by_value), "quarantine").column(column).to_pylist()
    values = table_of(bronze).column(column).to_pylist()
    assert sorted(map(str, quarantined)) == sorted(
        str(v) for v in values if v is not None and values.count(v) > 1
    )


@pytest.mark.parametrize(
    "values",
    [
        pa.array([5, 3, 5, 9, 3, 3, 12, 0, 9], pa.int64()),
        pa.array([-100, 100, 7, -100, 7, 0], pa.int8()),
        pa.array([2**40, 2**40 + 3, 2**40, 2**40 + 1], pa.int64()),  # far from 0, dense
        pa.array([3, 1, 3, 2], pa.uint16()),
        pa.array([20_000, 20_003, 20_000, 19_990], pa.int32()).cast(pa.date32()),
        pa.array([10**15, 3, 10**15, 3, 9], pa.int64()),  # too sparse to count per value
    ],
    ids=["int64", "int8", "offset", "uint16", "date32", "sparse"],
)
def test_keys_counted_per_value_or_sorted_agree(
    values: pa.Array, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Integer and date keys spanning few values are counted per value, others sorted.
    rng = np.random.default_rng(3)
    keys = pa.chunked_array([values.take(pa.array(rng.integers(0, len(values), 5_000)))])
    counted = (shuffle.first_rows(pa.table({"k": keys})), repeated_values(keys))
    monkeypatch.setattr(shuffle, "_DENSE_SPAN", -1)  # nothing is dense: always sorted
    assert shuffle.dense_offsets(keys.to_numpy()) is None
    sorted_ = (shuffle.first_rows(pa.table({"k": keys})), repeated_values(keys))
    assert counted[0].tolist() == sorted_[0].tolist()
    assert counted[1].equals(sorted_[1])
    assert counted[1].type == values.type
    # Each key's first row, in order.
    listed = keys.to_pylist()
    assert counted[0].tolist() == [n for n, v in enumerate(listed) if v not in listed[:n]]


@pytest.mark.parametrize(
    "rule",
    [
        {"check": "regex", "column": "email", "pattern": "("},
        {"check": "range", "column": "amount", "min": "low"},
        {"check": "not_null", "column": "missing"},
        {"check": "sometimes", "column": "email"},
    ],
)
def test_quality_refuses_bad_rules(silver: dict[str, Any], rule: dict[str, Any]) -> None:
    outcome = run(quality, {"rules": [rule]}, silver=silver)
    assert outcome.error is not None
    assert outcome.error.code in {"invalid_input", "unknown_column"}
    assert outcome.error.retryable is False


def test_aggregate_matches_one_group_by_over_all_rows(silver: dict[str, Any]) -> None:
    spec = {
        "groupBy": ["day", "country"],
        "aggregations": [
            {"fn": "sum", "column": "amount", "as": "revenue"},
            {"fn": "count", "as": "orders"},
            {"fn": "mean", "column": "amount"},
            {"fn": "min", "column": "amount"},
            {"fn": "max", "column": "amount"},
        ],
    }
    output = completed(run(aggregate, spec, "gold", silver=silver))
    whole = table_of(silver)
    expected = (
        whole.group_by(["day", "country"])
        .aggregate(
            [
                ("amount", "sum"),
                ([], "count_all"),
                ("amount", "mean"),
                ("amount", "min"),
                ("amount", "max"),
            ]
        )
        .sort_by([("day", "ascending"), ("country", "ascending")])
    )
    got = table_of(output)
    assert got.column_names == [
        "day",
        "country",
        "revenue",
        "orders",
        "amount_mean",
        "amount_min",
        "amount_max",
    ]
    assert got.num_rows == expected.num_rows > 1
    assert got.column("revenue").to_pylist() == pytest.approx(
        expected.column("amount_sum").to_pylist()
    )
    assert got.column("orders").to_pylist() == expected.column("count_all").to_pylist()
    assert got.column("amount_mean").to_pylist() == pytest.approx(
        expected.column("amount_mean").to_pylist()
    )
    assert got.column("amount_max").to_pylist() == expected.column("amount_max").to_pylist()
    total = completed(run(aggregate, {"aggregations": [{"fn": "count"}]}, silver=silver))
    assert table_of(total).to_pylist() == [{"count": 150}]
    bad = run(aggregate, {"aggregations": [{"fn": "sum", "column": "email"}]}, silver=silver)
    assert bad.error is not None
    assert bad.error.code == "invalid_input"


def test_join_broadcasts_the_right_side_to_each_left_fragment(
    silver: dict[str, Any], lake: Path
) -> None:
    names = pa.table({"country": ["DE", "FR"], "name": ["Germany", "France"]})
    lance.write_dataset(names, str(lake / "countries.lance"))
    countries = {"uri": str(lake / "countries.lance")}
    left = table_of(silver)
    for how, rows in [("inner", 98), ("left", 150), ("anti", 52)]:
        spec = {"left": "silver", "right": countries, "on": ["country"], "how": how}
        output = completed(run(join, spec, silver=silver))
        expected = left.join(
            names,
            "country",
            join_type={"inner": "inner", "left": "left outer", "anti": "left anti"}[how],
        )
        assert table_of(output).num_rows == expected.num_rows == rows
    assert output["lineage"]["reads"][1] == {"uri": countries["uri"], "version": 1}
    bad = run(join, {"left": "silver", "right": countries, "on": ["day"]}, silver=silver)
    assert bad.error is not None
    assert bad.error.code == "unknown_column"


def test_export_writes_parquet_and_csv(silver: dict[str, Any], tmp_path: Path) -> None:
    out = completed(run(export, {"path": str(tmp_path / "out" / "silver.parquet")}, silver=silver))
    assert pq.read_table(out["file"]["uri"]).to_pylist() == table_of(silver).to_pylist()
    assert out["file"]["rows"] == 150
    assert out["file"]["bytes"] > 0
    as_csv = completed(run(export, {"path": str(tmp_path / "silver.csv")}, silver=silver))
    assert pacsv.read_csv(as_csv["file"]["uri"]).num_rows == 150
    assert as_csv["lineage"]["writes"] == [{"uri": str(tmp_path / "silver.csv")}]
    unknown = run(export, {"path": str(tmp_path / "silver.xlsx")}, silver=silver)
    assert unknown.error is not None
    assert unknown.error.code == "invalid_input"


def test_sources_are_named_dependencies_or_pinned_datasets(
    bronze: dict[str, Any], silver: dict[str, Any], tmp_path: Path
) -> None:
    both = {"bronze": bronze, "silver": silver}
    ambiguous = run(export, {"path": str(tmp_path / "x.csv")}, **both)
    assert ambiguous.error is not None
    assert ambiguous.error.code == "ambiguous_source"
    unknown = run(export, {"path": str(tmp_path / "x.csv"), "source": "gold"}, **both)
    assert unknown.error is not None
    assert unknown.error.code == "unknown_source"
    # A version, once read, stays readable: overwriting the dataset makes a new version.
    uri = bronze["dataset"]["uri"]
    lance.write_dataset(pa.table({"x": [1]}), uri, mode="overwrite")
    pinned = completed(run(export, {"path": str(tmp_path / "x.csv"), "source": "bronze"}, **both))
    assert pinned["file"]["rows"] == 300
    latest = {"uri": uri}
    assert (
        completed(run(export, {"path": str(tmp_path / "y.csv"), "source": latest}))["file"]["rows"]
        == 1
    )
    gone = run(export, {"path": str(tmp_path / "z.csv"), "source": {"uri": uri, "version": 9}})
    assert gone.error is not None
    assert gone.error.code == "dataset_not_found"


def test_reads_and_writes_outside_the_data_roots_are_refused(
    bronze: dict[str, Any], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The root is tmp_path (see the lake fixture); beside it, a directory that is not one.
    outside = tmp_path_factory.mktemp("outside")
    secret = write_orders(outside / "secret.csv", rows=10)
    lance.write_dataset(pa.table({"x": [1]}), str(outside / "d.lance"))
    (tmp_path / "link.csv").symlink_to(secret)
    (tmp_path / "linked").symlink_to(outside)
    inside = str(tmp_path / "o.csv")  # bronze's source
    forged = {"dataset": {"uri": str(outside / "d.lance"), "version": 1}}
    cases: list[tuple[Any, dict[str, Any], dict[str, Any]]] = [
        (ingest, {"source": str(secret)}, {}),
        (ingest, {"source": "/etc/passwd", "format": "csv"}, {}),
        (ingest, {"source": f"file://{secret}"}, {}),
        (ingest, {"source": str(tmp_path / ".." / outside.name / "secret.csv")}, {}),
        (ingest, {"source": str(tmp_path / "link.csv")}, {}),  # a symlink out of the root
        (ingest, {"source": str(tmp_path / "linked" / "*.csv")}, {}),  # ...globbed through
        (ingest, {"source": str(outside / "*.csv")}, {}),
        (ingest, {"source": inside, "output": str(outside / "new")}, {}),
        (ingest, {"source": inside, "output": "../../escaped"}, {}),  # under the lake, or not
        (ingest, {"source": inside, "output": "s3://another-bucket/x.lance"}, {}),
        (clean, {"trim": True, "output": str(outside / "cleaned")}, {"bronze": bronze}),
        (export, {"path": str(outside / "out.csv")}, {"bronze": bronze}),
        (
            export,
            {"path": str(tmp_path / "x.csv"), "source": {"uri": str(outside / "d.lance")}},
            {},
        ),
        # A dependency's output is input too: any stage (a transform) can output a reference.
        (export, {"path": str(tmp_path / "x.csv")}, {"forged": forged}),
    ]
    for template, spec, deps in cases:
        outcome = run(template, spec, **deps)
        assert outcome.error is not None, spec
        assert (outcome.error.code, outcome.error.retryable) == ("path_not_allowed", False), spec
        assert "PIPELOGIQ_DATA_ROOTS" in outcome.error.message
    assert sorted(p.name for p in outside.iterdir()) == ["d.lance", "secret.csv"]
    assert not (tmp_path / "x.csv").exists()


def test_the_data_roots_are_the_lake_by_default_or_the_directories_and_buckets_named(
    lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PIPELOGIQ_DATA_ROOTS")
    beside = run(ingest, {"source": str(write_orders(tmp_path / "beside.csv", rows=10))})
    assert beside.error is not None
    assert beside.error.code == "path_not_allowed"
    lake.mkdir(parents=True)
    landed = write_orders(lake / "landing.csv", rows=10)
    assert completed(run(ingest, {"source": str(landed)}))["dataset"]["rows"] == 10
    monkeypatch.chdir(lake)  # a relative path is relative to the worker's directory
    assert completed(run(ingest, {"source": "landing.csv"}))["dataset"]["rows"] == 10

    monkeypatch.setenv("PIPELOGIQ_DATA_ROOTS", f"{tmp_path}, s3://lake/team-a, gs://whole")
    for uri, expected in [
        ("s3://lake/team-a/x.lance", "s3://lake/team-a/x.lance"),
        ("S3://lake/team-a", "s3://lake/team-a"),
        ("gs://whole/any/thing.csv", "gs://whole/any/thing.csv"),
        (f"file://{tmp_path}/a/../b.csv", f"{tmp_path}/b.csv"),
    ]:
        assert roots.allowed(uri) == expected
    for uri in [
        "s3://lake/team-ab/x",
        "s3://lake/x",
        "s3://other/team-a/x",
        "gs://whole2/x",
        "memory://lake/team-a/x",
        "s3://lake/team-a/../team-b/x",
        "s3://lake/team-a/%2e%2e/team-b/x",
        "s3://key:secret@lake/team-a/x",
        "s3://lake/team-a/x?endpoint_override=169.254.169.254",
    ]:
        with pytest.raises(TerminalError, match=r"PIPELOGIQ_DATA_ROOTS|not a plain URI") as caught:
            roots.allowed(uri)
        assert caught.value.code == "path_not_allowed", uri
    monkeypatch.setenv("PIPELOGIQ_DATA_ROOTS", "s3://lake/x?region=eu")
    with pytest.raises(TerminalError) as bad:
        roots.allowed("s3://lake/x/y")
    assert bad.value.code == "invalid_setting"


async def test_a_medallion_pipeline_runs_through_the_control_plane(
    system: System, tmp_path: Path
) -> None:
    system.start_builtin_worker()
    worker = sdk_worker(system)
    assert "dataset.ingest" in worker.use_templates("dataset")
    stages = [
        {
            "name": "bronze",
            "handler": "dataset.ingest",
            "input": {"source": str(write_orders(tmp_path / "o.csv", bad=True))},
        },
        {
            "name": "silver",
            "handler": "dataset.clean",
            "input": {"trim": True, "dedupe": ["order_id"]},
        },
        {
            "name": "checked",
            "handler": "dataset.quality",
            "input": {"rules": RULES, "failAbove": 0.05},
        },
        {
            "name": "gold",
            "handler": "dataset.aggregate",
            "input": {"groupBy": ["country"], "aggregations": [{"fn": "sum", "column": "amount"}]},
        },
    ]
    async with (
        AsyncClient(URL, system.api_key, transport=system.transport) as client,
        running(worker),
    ):
        submitted = await client.create_pipeline({"name": "medallion", "stages": stages})
        finished = await client.wait(submitted.id, timeout=60)
    assert finished.status == "completed", [s.error for s in finished.stages]
    outputs = {s.name: s.output for s in finished.stages}
    assert outputs["checked"]["report"]["quarantined"] == 4
    gold = table_of(outputs["gold"])
    assert gold.column("country").to_pylist() == ["DE", "FR", "NL"]
    assert outputs["gold"]["lineage"]["reads"] == [
        {"uri": outputs["checked"]["dataset"]["uri"], "version": 1}
    ]


def test_the_dataset_group_is_all_its_templates() -> None:
    assert [t.name for t in select(["dataset.*"])] == [
        "dataset.aggregate",
        "dataset.clean",
        "dataset.export",
        "dataset.ingest",
        "dataset.join",
        "dataset.profile",
        "dataset.quality",
        "dataset.release",
        "dataset.sample",
        "dataset.sql",
    ]


@ray.remote
def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@ray.remote
def _fail() -> None:
    raise TerminalError("a bad piece", code="invalid_data")


def _context() -> JobContext:
    return JobContext(
        job_id="j", stage_id="s", pipeline_id="p", handler="h", stage_name="s", attempt=1
    )


def test_the_first_failed_task_stops_the_others() -> None:
    runtime.ensure_started()
    slow = _sleep.remote(60)
    with pytest.raises(TerminalError) as raised:
        runtime.gather(_context(), [slow, _fail.remote()])
    assert raised.value.code == "invalid_data"  # the task's own error, unwrapped
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(slow, timeout=30)


def test_a_cancelled_job_cancels_its_tasks() -> None:
    runtime.ensure_started()
    ctx = _context()
    ctx.cancelled.set()
    slow = _sleep.remote(60)
    with pytest.raises(TerminalError, match="cancelled"):
        runtime.gather(ctx, [slow])
    with pytest.raises(ray.exceptions.TaskCancelledError):
        ray.get(slow, timeout=30)
