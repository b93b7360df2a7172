"""A generated orders CSV, a little dirty on purpose: python examples/medallion/orders.py PATH ROWS

About 1% of the orders come twice (a resend), and about 1% have something wrong that the
quality stage should catch: a missing or negative amount, an unknown country, a malformed
email. The same rows every time (a fixed seed).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

COUNTRIES = np.array(["DE", "FR", "NL", "ES", "IT", "PL", "SE", "US"])
START = np.datetime64("2026-11-01T00:00:00")


def generate(path: Path, rows: int, seed: int = 7) -> Path:
    random = np.random.default_rng(seed)
    ids = np.arange(rows, dtype=np.int64)
    # About 1% of rows repeat an earlier order.
    resent = random.random(rows) < 0.01
    ids[resent] = random.integers(0, rows, resent.sum())
    seconds = random.integers(0, 30 * 86_400, rows)
    amount = np.round(random.gamma(2.0, 30.0, rows), 2).astype(str).astype(object)
    country = COUNTRIES[random.integers(0, len(COUNTRIES), rows)].astype(object)
    email = np.char.add(np.char.add("buyer", ids.astype(str)), "@shop.example").astype(object)
    # About 1% of rows are wrong in one of four ways.
    broken = np.flatnonzero(random.random(rows) < 0.01)
    kind = random.integers(0, 4, len(broken))
    amount[broken[kind == 0]] = "n/a"
    amount[broken[kind == 1]] = "-12.50"
    country[broken[kind == 2]] = "XX"
    email[broken[kind == 3]] = "not-an-email"
    table = pa.table(
        {
            "order_id": ids,
            "ordered_at": pc.strftime(
                pa.array(START + seconds.astype("timedelta64[s]")), "%Y-%m-%dT%H:%M:%S"
            ),
            # Padded the way hand-kept exports are, for the clean stage to trim.
            "country": pa.array(np.char.add(" ", country.astype(str))),
            "customer_email": pa.array(email.astype(str)),
            "amount": pa.array(amount.astype(str)),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
    return path


if __name__ == "__main__":
    generate(Path(sys.argv[1]), int(sys.argv[2]))
