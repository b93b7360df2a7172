"""Named statement parameters (database/named.py), for asyncpg's numbered ones."""

from __future__ import annotations

import asyncpg
import pytest

from database.named import Named


def test_names_become_numbers_in_order_of_first_use_and_casts_and_quotes_stay() -> None:
    statement = Named("SELECT :b::int + :a, :b, 'it''s :a', a::text FROM t WHERE x = :a")
    assert statement.sql == "SELECT $1::int + $2, $1, 'it''s :a', a::text FROM t WHERE x = $2"
    assert statement.names == ["b", "a"]


def test_every_name_must_be_given_and_no_other() -> None:
    statement = Named("SELECT :first, :second")
    assert statement.args(second=2, first=1) == (1, 2)
    with pytest.raises(TypeError, match=r"missing \['second'\], unknown \['third'\]"):
        statement.args(first=1, third=3)


async def test_a_named_statement_runs_on_postgres(pool: asyncpg.Pool) -> None:
    statement = Named("SELECT :n::int * 2 + :m::int, :label::text")
    row = await pool.fetchrow(statement.sql, *statement.args(label="x", m=1, n=20))
    assert tuple(row) == (41, "x")
