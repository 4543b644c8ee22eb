"""Normalize and hash N realistic customer records with every user_data key: ours vs Meta's SDK.

    uv run --extra bench python benchmarks/identity_benchmark.py [--records 1000000] [--sdk-records N]
        [--cardinality realistic|seed]

Both sides produce SHA-256 hashes for em, ph, fn, ln, ct, st, zp, country, ge, db and external_id.
The SDK (facebook-business, a benchmark-only extra) normalizes one value per call and raises on
values it cannot handle ("USA", "401.884.2310"); those are counted as dropped, as a caller must.
By default the SDK runs on the first 200,000 records and its rate is reported per record (it is
linear); pass --sdk-records to run it on all of them.

``--cardinality realistic`` (the default) gives records as a large advertiser's are: every email,
phone and customer id distinct, thousands of first names, tens of thousands of last names, cities
and ZIP codes, written the messy ways exports write them; ``seed`` gives the demo seed's records
(20 first and 20 last names, a few hundred places), where repeated values make caching look good.

Each side runs --repeat times (default 3) and its best time is reported, as ``timeit`` does: on
a shared virtual machine the slower runs measure the neighbours (page-fault and scheduling
noise), not the code. Every run's time is printed too.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import pandas as pd

from conversions_pipeline import identity
from conversions_pipeline.warehouse.seed import customer_records

KEYS = ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "ge", "db", "external_id")


_SYLLABLES = ("an", "bel", "car", "dan", "el", "fer", "gar", "hol", "is", "jor", "kat", "lin", "mar", "nor", "ol",
              "per", "quin", "ros", "sel", "tor", "ul", "van", "wil", "xan", "yor", "zel", "bri", "cla", "dre", "eth",
              "fla", "gri", "har", "ing", "jas", "kel", "lor", "mon", "nat", "ori", "pal", "ran", "son", "tam", "ber",
              "den", "ley", "ston", "wood", "field")
_CITY_SUFFIX = ("ville", "ton", "burg", " Springs", " City", "field", " Heights", "port", "dale", "")
_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "comcast.net",
            "acme-corp.com", "web.de", "orange.fr", "mail.ru", "qq.com")


def _words(rng: np.random.Generator, n: int, parts: int, pool: int) -> np.ndarray:
    """``n`` capitalized made-up words drawn from ``pool`` distinct ones of ``parts`` syllables."""
    ids = rng.integers(0, len(_SYLLABLES), size=(pool, parts))
    words = np.array(["".join(_SYLLABLES[i] for i in row).capitalize() for row in ids], dtype=object)
    return words[rng.integers(0, pool, size=n)]


def realistic_records(n: int, seed: int = 1) -> pd.DataFrame:
    """The seed's records (their messy shapes, foreign phones and addresses kept) with realistic
    cardinality: every email, phone and external id distinct, about 5,000 first names, 50,000
    last names, 30,000 cities and tens of thousands of ZIP codes."""
    rng = np.random.default_rng([seed, 7])
    records = customer_records(n, seed=seed)
    first = _words(rng, n, 2, 5_000)
    last = _words(rng, n, 3, 50_000)
    shape = rng.choice(4, size=n, p=[0.6, 0.2, 0.1, 0.1])  # as typed, upper, lower, padded
    def shaped(values):
        out = pd.Series(values, dtype=object)
        out[shape == 1] = out[shape == 1].str.upper()
        out[shape == 2] = out[shape == 2].str.lower()
        out[shape == 3] = " " + out[shape == 3] + " "
        return out.to_numpy(object)
    records["fn"], records["ln"] = shaped(first), shaped(last)
    us = records["ct"].notna() & (records["country"].fillna("").str.upper().isin(["US", "USA", "UNITED STATES", ""])
                                  | records["country"].isna())
    suffixes = pd.Series(_CITY_SUFFIX)[rng.integers(0, len(_CITY_SUFFIX), n)].to_numpy()
    cities = pd.Series(_words(rng, n, 2, 30_000)) + suffixes
    records.loc[us, "ct"] = shaped(cities.to_numpy(object))[us.to_numpy()]
    zips = pd.Series(rng.integers(501, 99_950, size=n)).map("{:05d}".format)
    plus4 = pd.Series(rng.integers(0, 10_000, size=n)).map("{:04d}".format)
    zshape = rng.choice(3, size=n, p=[0.7, 0.2, 0.1])
    zips = zips.where(zshape != 1, zips + "-" + plus4).where(zshape != 2, zips.str.lstrip("0"))
    records.loc[us, "zp"] = zips.to_numpy(object)[us.to_numpy()]
    serial = pd.Series(rng.permutation(n)).map("{:07d}".format)
    local = (pd.Series(first).str.lower() + "." + pd.Series(last).str.lower() + serial)
    domain = pd.Series(_DOMAINS)[rng.integers(0, len(_DOMAINS), n)].to_numpy()
    email = local + "@" + domain
    eshape = rng.choice(3, size=n, p=[0.8, 0.15, 0.05])
    email = email.where(eshape != 1, email.str.title()).where(eshape != 2, " " + email + " ")
    records["em"] = email.to_numpy(object)
    # distinct numbers: a permutation spread over area code, exchange (never 0xx or 1xx) and line
    p = rng.permutation(n)
    area, rest = 201 + p % 780, p // 780
    exchange, line = 200 + rest % 780, (rest // 780) * 1_000 + rng.integers(0, 1_000, size=n)
    national = (pd.Series(area).astype(str) + pd.Series(exchange).astype(str)
                + pd.Series(line).map("{:04d}".format))
    pshape = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    n10 = national
    formatted = ("(" + n10.str[:3] + ") " + n10.str[3:6] + "-" + n10.str[6:]).where(
        pshape != 1, n10.str[:3] + "." + n10.str[3:6] + "." + n10.str[6:]).where(
        pshape != 2, "+1 " + n10).where(pshape != 3, "1" + n10)
    domestic = ~records["ph"].fillna("").str.startswith("+") | records["ph"].fillna("").str.startswith("+1")
    records.loc[domestic, "ph"] = formatted.to_numpy(object)[domestic.to_numpy()]
    records["external_id"] = (" CUST" + serial).to_numpy(object)
    return records


def ours(records: pd.DataFrame) -> pd.DataFrame:
    hashed, _reasons = identity.hash_user_data(records[list(KEYS)])
    return hashed


def sdk(records: pd.DataFrame) -> tuple[int, int]:
    from facebook_business.adobjects.serverside.normalize import Normalize

    sent = dropped = 0
    columns = {key: records[key].tolist() for key in KEYS}
    for key in KEYS:
        for value in columns[key]:
            if value is None or value == "":
                continue
            try:
                Normalize.normalize_field(key, value)
                sent += 1
            except Exception:  # the SDK raises on values it cannot normalize
                dropped += 1
    return sent, dropped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--sdk-records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cardinality", choices=("realistic", "seed"), default="realistic")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    started = time.perf_counter()
    records = (realistic_records if args.cardinality == "realistic" else customer_records)(args.records, seed=1)
    distinct = ", ".join(f"{k} {records[k].nunique():,}" for k in ("em", "ph", "fn", "ln", "ct", "zp"))
    print(f"generated {len(records):,} {args.cardinality} records in {time.perf_counter() - started:.1f}s "
          f"(distinct values: {distinct})")

    ours(records.head(50_000))  # one-time warm-up outside the timing: lookup tables, DuckDB's Arrow bridge
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        hashed = ours(records)
        times.append(time.perf_counter() - started)
    ours_s, ours_median = min(times), statistics.median(times)
    sent = int(hashed.notna().sum().sum())
    ours_rate = len(records) / ours_s
    print(f"conversions_pipeline: {len(records):,} records in {ours_s:.2f}s = {ours_rate:,.0f} records/s "
          f"({sent:,} keys hashed; runs: {', '.join(f'{t:.2f}s' for t in times)})")

    sample = records.head(min(args.sdk_records, len(records)))
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        sdk_sent, sdk_dropped = sdk(sample)
        times.append(time.perf_counter() - started)
    sdk_s, sdk_median = min(times), statistics.median(times)
    sdk_rate = len(sample) / sdk_s
    print(f"facebook-business SDK Normalize: {len(sample):,} records in {sdk_s:.2f}s = {sdk_rate:,.0f} records/s "
          f"({sdk_sent:,} keys hashed, {sdk_dropped:,} raised; runs: {', '.join(f'{t:.2f}s' for t in times)})")
    print(f"speed-up: {ours_rate / sdk_rate:.1f}x best against best "
          f"({(len(records) / ours_median) / (len(sample) / sdk_median):.1f}x median against median)")


if __name__ == "__main__":
    main()
