"""What a SQL model may do: read its inputs, and compute. Nothing else of the worker.

Daft's SQL can read any file or URL (``read_csv('/etc/passwd')``, a path as a table name,
``url_download``) and write one (``url_upload``), past the data roots the templates keep to.
So a query is parsed here (sqlglot), refused if it names a table that is not an input or one
of its own ``WITH`` tables, or calls a function that is not on the list below, and Daft runs
the query *as printed back from that parse*: what runs is exactly what was checked, comments
and all parser quirks gone.

The list is Daft's own SQL functions (0.7) less those that touch files, URLs, media or
models. It is written out, not read from Daft, so that a new Daft's new functions are refused
until someone looks at them.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from worker_sdk.errors import TerminalError

ALLOWED_FUNCTIONS = frozenset(
    """
    abs add_months arccos arccosh arcsin arcsinh arctan arctan2 arctanh array_to_string ascii
    atan2 avg bin bool_and bool_or capitalize cbrt ceil chr clip coalesce concat concat_ws
    contains conv convert_time_zone convert_timezone cos cosh cosine_distance cosine_similarity
    cot count count_distinct count_matches csc current_date current_timestamp current_timezone
    damerau_levenshtein_distance date date_add date_diff date_format date_from_unix_date
    date_sub date_trunc dateadd datediff datepart day day_of_month day_of_week day_of_year
    dayofmonth dayofyear decode degrees dense_rank deserialize dot_product e element encode
    ends_with euclidean_distance exp explode expm1 extract extract_all extract_day_uuid7
    extract_hour_uuid7 extract_minute_uuid7 extract_month_uuid7 factorial fill_nan find floor
    from_unixtime from_utc_timestamp great_circle_distance guess_mime_type hamming_distance
    hamming_distance_str hash hour hypot ilike is_inf is_nan jaccard_similarity jaro_similarity
    jaro_winkler_similarity jq json_array_length json_object_keys json_tuple lag last_day lead
    left length length_bytes levenshtein_distance like list_append list_bool_and list_bool_or
    list_chunk list_contains list_count list_count_distinct list_distinct list_fill list_filter
    list_flatten list_get list_join list_map list_max list_mean list_min list_seq list_sort
    list_sum list_value_counts ln log log10 log1p log2 lower lpad lstrip make_date
    make_timestamp make_timestamp_ltz map_extract map_get map_keys max mean median microsecond
    millisecond min minhash minute monotonically_increasing_id month months_between nanosecond
    negate next_day normalize not_nan partitioning_days partitioning_hours
    partitioning_iceberg_bucket partitioning_iceberg_truncate partitioning_months
    partitioning_years pearson_correlation percentile pi pmod pow power product quarter radians
    random_int rank regexp_count regexp_extract regexp_extract_all regexp_match regexp_replace
    regexp_split repeat replace replace_time_zone reverse right round row_number rpad rstrip sec
    second serialize sign simhash sin sinh slice soundex space split split_part sqrt starts_with
    stddev stddev_pop stddev_samp strftime strip struct struct_extract struct_get substr
    substring_index sum tan tanh time timestamp_micros timestamp_millis timestamp_seconds
    to_camel_case to_date to_datetime to_kebab_case to_mode to_snake_case to_string to_tensor
    to_title_case to_unix_epoch to_upper_camel_case to_upper_kebab_case to_upper_snake_case
    to_utc_timestamp total_days total_hours total_microseconds total_milliseconds total_minutes
    total_nanoseconds total_seconds translate trunc truncate try_decode try_deserialize
    try_divide try_encode unix_date unnest upper utf8_contains uuid uuid_v7 uuidv7 var var_pop
    var_samp variance week_of_year weekofyear year
    """.split()  # noqa: SIM905 (a list of words, read as one)
)

# What sqlglot reads as a function but Daft's parser takes as syntax: CASE ... END and its
# branches, casts, and the forms of EXTRACT, SUBSTRING, TRIM and POSITION.
SYNTAX = frozenset(
    "case if cast try_cast extract substring trim position interval in between not".split()  # noqa: SIM905
)


# sqlglot's functions that are printed as operators.
OPERATORS = (exp.Binary, exp.Unary, exp.Connector, exp.Predicate)


def _refused(problem: str) -> TerminalError:
    return TerminalError(
        f"the query is not one a SQL model may run: {problem}", code="invalid_query"
    )


def checked(query: str, tables: set[str]) -> str:
    """``query`` as Daft is to run it, if it reads only ``tables`` and calls only allowed
    functions; else a terminal ``invalid_query``."""
    try:
        statements = sqlglot.parse(query)
    except (ParseError, TokenError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "a syntax error"
        raise _refused(first[:1000]) from None
    statements = [s for s in statements if s is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise _refused("it must be one SELECT (WITH, UNION and the like included)")
    tree = statements[0]
    # Exactly as written: Daft looks its tables up by case.
    known = set(tables) | {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for table in tree.find_all(exp.Table):
        name = table.name
        plain = isinstance(table.this, exp.Identifier) and not table.args.get("db")
        if not plain or name not in known or table.args.get("catalog"):
            shown = table.sql()[:200]
            raise _refused(
                f"{shown} is not one of its tables ({', '.join(sorted(known)) or 'none'})"
            )
    for function in tree.find_all(exp.Func):
        if isinstance(function, OPERATORS):
            continue  # printed as an operator (AND, =, LIKE, IN...), not as a call
        name = function.name if isinstance(function, exp.Anonymous) else function.sql_name()
        if name.lower() not in ALLOWED_FUNCTIONS and name.lower() not in SYNTAX:
            raise _refused(f"the function {name.lower()} is not allowed")
    return tree.sql(comments=False)
