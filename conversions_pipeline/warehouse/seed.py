"""Deterministic synthetic data shaped like real CallRail and shop exports.

Every day is generated from ``(seed, day)`` alone, so a day's rows are the same whatever range it
is seeded in, and re-seeding a day replaces exactly that day. Generation is vectorized with NumPy
and pandas; loading goes through :func:`conversions_pipeline.warehouse.io.bulk_insert` (COPY on
PostgreSQL, executemany on SQLite).

The mess is deliberate, because the identity and events steps must survive it: phones in every
shape (E.164, "(401) 884-2310", dots, extensions, spreadsheet floats, foreign numbers), emails
with capitals, spaces and junk, caller-ID names ("WIRELESS CALLER", "SMITH,JOHN", accents), state
names and codes, ZIP+4 and ZIPs that lost their leading zero, countries spelled four ways,
duplicate rows, spam and test calls, web sessions tied to leads by session id or by a pool number
shown within 30 minutes, static source numbers shown to many visitors (calls to them tie to no
one), orders in several currencies with refunds and test orders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .engine import create_schema
from .io import bulk_insert, delete_day
from .schema import ALL_SOURCE_TABLES, SOURCE_TABLES, order_items, orders

# --- pools ---------------------------------------------------------------------------------

FIRST = np.array(["John", "Mary", "James", "Patricia", "Robert", "Jennifer", "Michael", "Linda",
                  "David", "Elizabeth", "José", "María", "Zoë", "Mary-Jane", "Seán", "Chloé",
                  "Anne-Marie", "D'Andre", "Li", "Björn"], dtype=object)
LAST = np.array(["Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
                 "O'Neil", "Álvarez", "Nguyen", "St. John", "McDonald", "Müller", "Van der Berg",
                 "Lopez-Ortiz", "Kim", "Núñez", "Patel", "Chen"], dtype=object)
# city, state code, state name, zip
US_PLACES = [
    ("Providence", "RI", "Rhode Island", "02903"), ("Boston", "MA", "Massachusetts", "02108"),
    ("Newark", "NJ", "New Jersey", "07102"), ("New York", "NY", "New York", "10001"),
    ("Los Angeles", "CA", "California", "90012"), ("Beverly Hills", "CA", "California", "90210"),
    ("San Francisco", "CA", "California", "94103"), ("Chicago", "IL", "Illinois", "60601"),
    ("Austin", "TX", "Texas", "78701"), ("Miami", "FL", "Florida", "33101"),
    ("Washington", "DC", "District of Columbia", "20001"), ("San Juan", "PR", "Puerto Rico", "00901"),
    ("St. Louis", "MO", "Missouri", "63101"), ("Hartford", "CT", "Connecticut", "06103"),
]
US_AREA = np.array(["401", "617", "212", "415", "312", "512", "305", "202", "213", "860",
                    "973", "314", "650", "718"], dtype=object)
US_COUNTRY_SPELLINGS = np.array(["US", "USA", "United States", "", "us", "United States of America"], dtype=object)
STATE_DOTTED = {"NY": "N.Y.", "CA": "Calif.", "MA": "Mass.", "NJ": "N.J.", "DC": "D.C."}
# foreign: phone, country spelling, city, state, postal code
FOREIGN = [
    ("+44 20 7946 0{:03d}", "United Kingdom", "London", "", "SW1A 1AA"),
    ("020 7946 0{:03d}", "UK", "London", "", "EC1A 1BB"),
    ("+52 55 1234 5{:03d}", "Mexico", "Ciudad de México", "CDMX", "06600"),
    ("(416) 555-0{:03d}", "Canada", "Toronto", "Ontario", "M5V 3L9"),
    ("+1 604 555 0{:03d}", "CA", "Vancouver", "BC", "V6B 1A1"),
    ("+49 30 901820{:02d}", "DE", "Berlin", "", "10117"),
]
CALLER_ID_PLACEHOLDERS = np.array(["WIRELESS CALLER", "UNKNOWN", "ANONYMOUS", "TOLL FREE CALL",
                                   "PROVIDENCE RI", "BOSTON MA", "Unknown Caller"], dtype=object)
EMAIL_DOMAINS = np.array(["gmail.com", "Yahoo.com", "outlook.com", "example.org", "ICLOUD.COM"], dtype=object)
USER_AGENTS = np.array([
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148 [FBAN/FBIOS;FBAV/485.0]",
], dtype=object)
COMPANIES = np.array(["COM100", "COM200", "COM300"], dtype=object)
SITE = "https://www.acme-home-services.com"
PAGES = np.array(["/", "/plumbing", "/hvac/repair", "/contact", "/offers/spring"], dtype=object)
PRODUCTS = [("P-100", "SKU-FLT-01", "Water filter", 49.99), ("P-200", "SKU-THM-02", "Smart thermostat", 129.0),
            ("P-300", "SKU-HSE-03", "Garden hose 50ft", 34.5), ("P-400", "SKU-SVC-04", "Service visit", 89.0),
            ("P-500", "SKU-KIT-05", "Repair kit", 19.95)]
CURRENCIES = np.array(["USD", "USD", "USD", "USD", "CAD", "EUR", "GBP", "usd"], dtype=object)
# Tracking numbers: each company shows one number per source (dynamic number insertion).
SOURCES = np.array(["Facebook Ads", "facebook", "Google Ads", "Google Organic", "Direct", "Yelp"], dtype=object)
SOURCE_P = np.array([0.22, 0.10, 0.25, 0.18, 0.17, 0.08])
MEDIUM = {"Facebook Ads": "paid_social", "facebook": "cpc", "Google Ads": "cpc", "Google Organic": "organic",
          "Direct": "direct", "Yelp": "referral"}
FB_SOURCES = {"Facebook Ads", "facebook"}

_ALNUM = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"))


@dataclass
class SeedReport:
    days: list[date]
    rows: dict[str, int]


def _epoch(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _frame(columns: dict) -> pd.DataFrame:
    """A DataFrame that owns writable copies of its columns (pandas 3 copy-on-write)."""
    return pd.DataFrame(columns).copy(deep=True)


def _epoch_ms(times: pd.Series) -> pd.Series:
    """Unix milliseconds of naive-UTC timestamps, as text (cookie values)."""
    return ((times - pd.Timestamp("1970-01-01")) // pd.Timedelta(milliseconds=1)).astype("int64").astype(str)


def _pick(rng: np.random.Generator, pool, n: int, p=None) -> np.ndarray:
    pool = np.asarray(pool, dtype=object)
    return pool[rng.choice(len(pool), size=n, p=p)]


def _ids(prefix: str, seed: int, day: date, n: int) -> np.ndarray:
    base = f"{prefix}{seed:03d}{day:%Y%m%d}"
    return (pd.Series(np.arange(n)).map("{:07d}".format).radd(base)).to_numpy(dtype=object)


def _tokens(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """Random case-sensitive click-id-like tokens."""
    chars = _ALNUM[rng.integers(0, len(_ALNUM), size=(n, length))]
    return np.array(["".join(row) for row in chars], dtype=object) if n else np.array([], dtype=object)


def _times(rng: np.random.Generator, day: date, n: int) -> pd.Series:
    seconds = rng.integers(0, 86_400, size=n)
    # Rows on the very edges of the day exercise the partition boundaries.
    if n >= 4:
        seconds[0], seconds[1] = 0, 86_399
    micro = rng.integers(0, 1_000_000, size=n)
    micro[: min(n, 2)] = 0
    return pd.Series(pd.Timestamp(_epoch(day)) + pd.to_timedelta(seconds, unit="s") + pd.to_timedelta(micro, unit="us"))


def _us_digits(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    area = _pick(rng, US_AREA, n)
    exchange = rng.integers(201, 990, size=n)
    exchange = np.where((exchange % 100 == 11) | (exchange == 555), exchange + 1, exchange)
    line = rng.integers(0, 10_000, size=n)
    return area, pd.Series(exchange).astype(str).to_numpy(object), pd.Series(line).map("{:04d}".format).to_numpy(object)


def _phones(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw phone strings in export shapes, and the index of the foreign place (-1 for US)."""
    area, ex, line = _us_digits(rng, n)
    a, e, l_ = pd.Series(area), pd.Series(ex), pd.Series(line)
    shape = rng.choice(9, size=n, p=[0.24, 0.24, 0.10, 0.10, 0.08, 0.08, 0.06, 0.06, 0.04])
    out = pd.Series("", index=range(n), dtype=object)
    shapes = [
        "+1" + a + e + l_,                          # 0 E.164
        "(" + a + ") " + e + "-" + l_,              # 1 CallRail display
        a + "." + e + "." + l_,                     # 2 dots
        a + "-" + e + "-" + l_ + " x" + l_.str[:3],  # 3 extension
        a + e + l_ + ".0",                          # 4 spreadsheet float
        "1-" + a + "-" + e + "-" + l_,              # 5 leading trunk 1
        a + e + l_,                                 # 6 bare ten digits
    ]
    for k, values in enumerate(shapes):
        mask = shape == k
        out[mask] = values[mask]
    foreign_idx = np.full(n, -1)
    fmask = shape == 7
    if fmask.any():
        which = rng.integers(0, len(FOREIGN), size=fmask.sum())
        suffix = rng.integers(0, 100, size=fmask.sum())
        out[fmask] = [FOREIGN[w][0].format(s) for w, s in zip(which, suffix)]
        foreign_idx[fmask] = which
    out[shape == 8] = _pick(rng, ["", "Restricted", "+1 (000) 000-0000"], int((shape == 8).sum()))
    return out.to_numpy(object), foreign_idx


def _people(rng: np.random.Generator, n: int, caller_id: bool) -> pd.DataFrame:
    """Names and places for n people, with the shapes that exports produce."""
    first, last = _pick(rng, FIRST, n), _pick(rng, LAST, n)
    f, la = pd.Series(first), pd.Series(last)
    if caller_id:
        shape = rng.choice(5, size=n, p=[0.35, 0.35, 0.12, 0.08, 0.10])
        name = pd.Series(np.where(shape == 0, (f + " " + la).to_numpy(object),
                                  (la.str.upper() + "," + f.str.upper()).to_numpy(object)), dtype=object)
        name[shape == 2] = _pick(rng, CALLER_ID_PLACEHOLDERS, int((shape == 2).sum()))
        name[shape == 3] = (la.str.upper() + " " + f.str.upper())[shape == 3]
        name[shape == 4] = ""
    else:
        shape = rng.choice(3, size=n, p=[0.8, 0.12, 0.08])
        name = pd.Series(np.where(shape == 0, (f + " " + la).to_numpy(object),
                                  (" " + f.str.lower() + "  " + la + " ").to_numpy(object)), dtype=object)
        name[shape == 2] = ""
    place = rng.integers(0, len(US_PLACES), size=n)
    city = np.array([US_PLACES[i][0] for i in place], dtype=object)
    code = np.array([US_PLACES[i][1] for i in place], dtype=object)
    state_name = np.array([US_PLACES[i][2] for i in place], dtype=object)
    zip5 = np.array([US_PLACES[i][3] for i in place], dtype=object)
    st_shape = rng.choice(4, size=n, p=[0.45, 0.35, 0.1, 0.1])
    lower_code = pd.Series(code).str.lower().to_numpy(object)
    state = np.where(st_shape == 0, code,
                     np.where(st_shape == 1, state_name, np.where(st_shape == 2, lower_code, code)))
    dotted = st_shape == 3
    state[dotted] = [STATE_DOTTED.get(c, c) for c in code[dotted]]
    z_shape = rng.choice(4, size=n, p=[0.6, 0.15, 0.15, 0.10])
    plus4 = pd.Series(rng.integers(0, 10_000, size=n)).map("{:04d}".format).to_numpy(object)
    zips = zip5.copy()
    zips[z_shape == 1] = (pd.Series(zip5) + "-" + pd.Series(plus4)).to_numpy(object)[z_shape == 1]
    zips[z_shape == 2] = pd.Series(zip5).str.lstrip("0").to_numpy(object)[z_shape == 2]  # spreadsheet lost the zero
    zips[z_shape == 3] = (pd.Series(zip5).str.lstrip("0") + ".0").to_numpy(object)[z_shape == 3]
    country = _pick(rng, US_COUNTRY_SPELLINGS, n)
    return pd.DataFrame({"first": first, "last": last, "name": name.to_numpy(object), "city": city,
                         "state": state, "zip": zips, "country": country})


def _apply_foreign(people: pd.DataFrame, foreign_idx: np.ndarray) -> None:
    mask = foreign_idx >= 0
    if mask.any():
        rows = [FOREIGN[i] for i in foreign_idx[mask]]
        people.loc[mask, "country"] = [r[1] for r in rows]
        people.loc[mask, "city"] = [r[2] for r in rows]
        people.loc[mask, "state"] = [r[3] for r in rows]
        people.loc[mask, "zip"] = [r[4] for r in rows]


def _emails(rng: np.random.Generator, people: pd.DataFrame) -> np.ndarray:
    n = len(people)
    local = (people["first"].str.lower() + "." + people["last"].str.lower()).str.replace(r"[^a-z.]", "", regex=True)
    local = local + pd.Series(rng.integers(1, 999, size=n)).astype(str)
    dom = pd.Series(_pick(rng, EMAIL_DOMAINS, n))
    clean = local + "@" + dom
    shape = rng.choice(6, size=n, p=[0.55, 0.15, 0.1, 0.08, 0.07, 0.05])
    out = clean.copy()
    out[shape == 1] = ("  " + clean.str.upper() + " ")[shape == 1]
    last_letters = people["last"].str.replace(r"[^A-Za-z]", "", regex=True)
    out[shape == 2] = (people["first"] + "." + last_letters + "@" + dom)[shape == 2]
    out[shape == 3] = ("mailto:" + clean)[shape == 3]
    out[shape == 4] = _pick(rng, ["n/a", "none", "test@", "john smith@gmail", "@example.com", "asdf"],
                            int((shape == 4).sum()))
    out[shape == 5] = ""
    return out.to_numpy(object)


def _values(rng: np.random.Generator, n: int) -> np.ndarray:
    amount = rng.integers(50, 2_500, size=n)
    shape = rng.choice(5, size=n, p=[0.3, 0.2, 0.1, 0.3, 0.1])
    s = pd.Series(amount).astype(str)
    out = np.where(shape == 0, (s + ".00").to_numpy(object),
                   np.where(shape == 1, ("$" + s).to_numpy(object),
                            np.where(shape == 2,
                                     ("$" + pd.Series(amount * 10).map("{:,}".format) + ".50").to_numpy(object), "")))
    out = out.astype(object)
    out[shape == 4] = None
    return out


def _attribution(rng: np.random.Generator, n: int) -> pd.DataFrame:
    source = _pick(rng, SOURCES, n, p=SOURCE_P)
    is_fb = np.isin(source, list(FB_SOURCES))
    is_google_ads = source == "Google Ads"
    fbclid = np.full(n, None, dtype=object)
    fbclid[is_fb] = "IwAR" + pd.Series(_tokens(rng, int(is_fb.sum()), 40)).to_numpy(object)
    gclid = np.full(n, None, dtype=object)
    gclid[is_google_ads] = "Cj0KCQ" + pd.Series(_tokens(rng, int(is_google_ads.sum()), 30)).to_numpy(object)
    page = pd.Series(SITE + _pick(rng, PAGES, n))
    landing = page.copy()
    landing[is_fb] = page[is_fb] + "?fbclid=" + pd.Series(fbclid[is_fb], index=page.index[is_fb], dtype=str)
    campaign = np.where(is_fb, "spring-leads-fb", np.where(is_google_ads, "brand-search", None)).astype(object)
    return pd.DataFrame({
        "source": source, "medium": [MEDIUM[s] for s in source], "campaign": campaign,
        "fbclid": fbclid, "gclid": gclid, "landing_page_url": landing.to_numpy(object),
    })


def _company_digit(company: np.ndarray) -> pd.Series:
    """The digit that tells the synthetic companies (COM1, COM2, ...) apart in their phone numbers."""
    return pd.Series(company).str[3].astype(int).astype(str)


def tracking_number(company: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The tracking number a company shows for a source (the number the lead dialled or texted)."""
    src = pd.Series(source).map({s: i for i, s in enumerate(SOURCES)})
    return ("+1401555" + _company_digit(company) + src.map("{:03d}".format)).to_numpy(object)


def pool_number(rng: np.random.Generator, company: np.ndarray) -> np.ndarray:
    """A number from the company's session-level dynamic number pool (10,000 numbers): the website
    shows each visitor one of them for the visit, so a call to it within minutes of the visit
    ties the call to that session. Pools are recycled, so unrelated visits reuse numbers."""
    digits = pd.Series(rng.integers(0, 10_000, size=len(company))).map("{:04d}".format)
    return ("+140155" + _company_digit(company) + "9" + digits).to_numpy(object)


def _duplicate(rng: np.random.Generator, frame: pd.DataFrame, share: float, restage: str | None = None) -> pd.DataFrame:
    """Repeat a share of rows as exports do (a later webhook stage repeats the row)."""
    k = max(1, int(len(frame) * share)) if len(frame) >= 10 else 0
    if k == 0:
        return frame
    dup = frame.iloc[rng.choice(len(frame), size=k, replace=False)].copy()
    if restage is not None:
        dup[restage] = "good_lead"
    return pd.concat([frame, dup], ignore_index=True)


def generate_day(day: date, per_day: int, seed: int = 0) -> dict[str, pd.DataFrame]:
    """All source rows for one day: ``per_day`` calls, plus texts, forms, sessions and orders."""
    rng = np.random.default_rng([seed, day.toordinal()])
    n = per_day

    # calls
    t = _times(rng, day, n)
    people = _people(rng, n, caller_id=True)
    phones, foreign = _phones(rng, n)
    _apply_foreign(people, foreign)
    attr = _attribution(rng, n)
    company = _pick(rng, COMPANIES, n)
    duration = rng.integers(0, 1_200, size=n)
    duration[rng.random(n) < 0.12] = 0
    status = _pick(rng, ["good_lead", "not_a_lead", "previously_marked_good_lead", None], n, p=[0.3, 0.1, 0.05, 0.55])
    spam = rng.random(n) < 0.03
    calls = _frame({
        "id": _ids("CAL", seed, day, n), "company_id": company, "start_time": t, "duration": duration,
        "answered": duration > 0, "direction": _pick(rng, ["inbound", "outbound"], n, p=[0.95, 0.05]),
        "first_call": rng.random(n) < 0.6, "customer_phone_number": phones,
        "customer_name": people["name"].to_numpy(object), "customer_city": people["city"].to_numpy(object),
        "customer_state": people["state"].to_numpy(object), "customer_country": people["country"].to_numpy(object),
        "zip_code": people["zip"].to_numpy(object), **{c: attr[c].to_numpy(object) for c in attr.columns},
        "tracking_phone_number": tracking_number(company, attr["source"].to_numpy(object)),
        "session_id": None, "lead_status": status, "value": _values(rng, n), "spam": spam,
    })
    test = rng.random(n) < 0.01
    calls.loc[test, "customer_name"] = "TEST CALL"
    calls.loc[test, "source"] = "Test Call"

    # web sessions: some tied by session id, some only by the tracking number shown before the call
    tie = rng.choice(3, size=n, p=[0.25, 0.2, 0.55])  # 0: by session_id, 1: by tracking number, 2: none
    sess_lead = np.flatnonzero(tie < 2)
    m = len(sess_lead)
    lead_before = rng.integers(60, 29 * 60, size=m)
    # a few sessions tied only by number start 31-40 minutes earlier: outside the 30-minute window
    far = (tie[sess_lead] == 1) & (rng.random(m) < 0.1)
    lead_before[far] = rng.integers(31 * 60, 40 * 60, size=int(far.sum()))
    s_ids = _ids("SES", seed, day, m)
    s_start = calls["start_time"].to_numpy()[sess_lead] - pd.to_timedelta(lead_before, unit="s").to_numpy()
    # Sessions stay inside the lead's own day so that re-seeding a day replaces exactly that day.
    s_start = np.maximum(s_start, np.datetime64(_epoch(day), "us"))
    calls.loc[sess_lead[tie[sess_lead] == 0], "session_id"] = s_ids[tie[sess_lead] == 0]
    # a caller who visited first dialled the pool number the site showed during the visit
    calls.loc[sess_lead, "tracking_phone_number"] = pool_number(rng, calls["company_id"].to_numpy(object)[sess_lead])
    sessions = _sessions(rng, s_ids, pd.Series(s_start), calls.iloc[sess_lead])
    # unrelated browsing sessions
    k = n // 4
    other_attr = _attribution(rng, k)
    other = pd.DataFrame({"company_id": _pick(rng, COMPANIES, k)})
    other = pd.concat([other, other_attr], axis=1)
    other["tracking_phone_number"] = pool_number(rng, other["company_id"].to_numpy(object))
    # most visitors who get no pool number see the static number of their source, as real accounts
    # show it on every page: a call to it cannot be tied to any one of them
    static = rng.random(k) < 0.6
    if static.any():
        other.loc[static, "tracking_phone_number"] = tracking_number(
        other["company_id"].to_numpy(object)[static], other["source"].to_numpy(object)[static])
    sessions = pd.concat([sessions, _sessions(rng, _ids("SEX", seed, day, k), _times(rng, day, k), other)],
                         ignore_index=True)

    calls = _duplicate(rng, calls, 0.02, restage="lead_status")

    # text messages
    nt = max(1, n // 5)
    tp = _people(rng, nt, caller_id=True)
    tphone, _ = _phones(rng, nt)
    tattr = _attribution(rng, nt)
    tcomp = _pick(rng, COMPANIES, nt)
    texts = _frame({
        "id": _ids("SMS", seed, day, nt), "conversation_id": _ids("CNV", seed, day, nt), "company_id": tcomp,
        "created_at": _times(rng, day, nt), "direction": _pick(rng, ["inbound", "outbound"], nt, p=[0.85, 0.15]),
        "customer_phone_number": tphone, "customer_name": tp["name"].to_numpy(object),
        "source": tattr["source"].to_numpy(object), "medium": tattr["medium"].to_numpy(object),
        "campaign": tattr["campaign"].to_numpy(object), "fbclid": tattr["fbclid"].to_numpy(object),
        "tracking_phone_number": tracking_number(tcomp, tattr["source"].to_numpy(object)),
        "lead_status": _pick(rng, ["good_lead", "not_a_lead", None], nt, p=[0.3, 0.1, 0.6]),
    })
    texts = _duplicate(rng, texts, 0.02)

    # form submissions
    nf = max(1, n // 4)
    fp = _people(rng, nf, caller_id=False)
    femail = _emails(rng, fp)
    fphone, _ = _phones(rng, nf)
    fattr = _attribution(rng, nf)
    ft = _times(rng, day, nf)
    f_ids = _ids("FRM", seed, day, nf)
    has_session = rng.random(nf) < 0.6
    f_sess_ids = _ids("SEF", seed, day, int(has_session.sum()))
    f_session = np.full(nf, None, dtype=object)
    f_session[has_session] = f_sess_ids
    fdf = pd.DataFrame({"company_id": _pick(rng, COMPANIES, nf)})
    fdf = pd.concat([fdf, fattr], axis=1)
    fdf["tracking_phone_number"] = None
    sessions = pd.concat([sessions, _sessions(
        rng, f_sess_ids,
        (ft[has_session].reset_index(drop=True)
         - pd.to_timedelta(rng.integers(30, 1_200, size=int(has_session.sum())), unit="s")).clip(
            lower=pd.Timestamp(_epoch(day))),
        fdf[has_session].reset_index(drop=True))], ignore_index=True)
    form_data = [json.dumps({"name": a, "email": b, "message": "Please call me back"}, ensure_ascii=False)
                 for a, b in zip(fp["name"], femail)]
    forms = _frame({
        "id": f_ids, "company_id": fdf["company_id"].to_numpy(object), "submitted_at": ft,
        "customer_name": fp["name"].to_numpy(object), "customer_email": femail, "customer_phone_number": fphone,
        "form_name": _pick(rng, ["Contact us", "Free quote", "Book a visit"], nf),
        "form_url": _pick(rng, [SITE + "/contact", SITE + "/quote"], nf),
        "landing_page_url": fattr["landing_page_url"].to_numpy(object),
        "referrer": _pick(rng, ["https://www.facebook.com/", "https://www.google.com/", None], nf),
        "source": fattr["source"].to_numpy(object), "medium": fattr["medium"].to_numpy(object),
        "campaign": fattr["campaign"].to_numpy(object), "fbclid": fattr["fbclid"].to_numpy(object),
        "gclid": fattr["gclid"].to_numpy(object), "session_id": f_session,
        "lead_status": _pick(rng, ["good_lead", "not_a_lead", None], nf, p=[0.35, 0.1, 0.55]),
        "value": _values(rng, nf), "first_form": rng.random(nf) < 0.7, "form_data": form_data,
    })
    forms = _duplicate(rng, forms, 0.02)

    order_frame, items = _orders(rng, day, seed, max(1, n // 5))
    return {"calls": calls, "text_messages": texts, "form_submissions": forms, "web_sessions": sessions,
            "orders": order_frame, "order_items": items}


def _sessions(rng: np.random.Generator, ids: np.ndarray, starts: pd.Series, leads: pd.DataFrame) -> pd.DataFrame:
    m = len(ids)
    starts = pd.Series(pd.to_datetime(starts.to_numpy()))
    fbclid = leads["fbclid"].to_numpy(object)
    has_fb = pd.notna(fbclid)
    start_ms = _epoch_ms(starts).to_numpy(object)
    fbc = np.full(m, None, dtype=object)
    cookie = has_fb & (rng.random(m) < 0.6)  # the rest only know the fbclid from the URL
    fbc[cookie] = ("fb.1." + pd.Series(start_ms[cookie]) + "." + pd.Series(fbclid[cookie])).to_numpy(object)
    fbp = ("fb.1." + pd.Series(start_ms) + "."
           + pd.Series(rng.integers(10**9, 10**10, size=m)).astype(str)).to_numpy(object)
    fbp[rng.random(m) < 0.2] = None
    octets = rng.integers(1, 255, size=(m, 4))
    ip = pd.Series([f"{a}.{b}.{c}.{d}" for a, b, c, d in octets], dtype=object)
    v6 = rng.random(m) < 0.15
    ip[v6] = [f"2001:db8:{a:x}:{b:x}::{c:x}" for a, b, c, _ in octets[v6]]
    return _frame({
        "id": ids, "visitor_id": _ids("VIS", 0, date(2000, 1, 1), m) if m else ids,
        "started_at": starts, "last_activity_at": starts + pd.to_timedelta(rng.integers(10, 1_800, size=m), unit="s"),
        "landing_page_url": leads["landing_page_url"].to_numpy(object),
        "referrer_url": np.where(has_fb, "https://l.facebook.com/", None).astype(object),
        "fbclid": fbclid, "fbc": fbc, "fbp": fbp, "client_ip_address": ip.to_numpy(object),
        "client_user_agent": _pick(rng, USER_AGENTS, m), "utm_source": leads["source"].to_numpy(object),
        "utm_medium": leads["medium"].to_numpy(object), "utm_campaign": leads["campaign"].to_numpy(object),
        "tracking_phone_number": leads["tracking_phone_number"].to_numpy(object),
    })


def _orders(rng: np.random.Generator, day: date, seed: int, n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = _ids("ORD", seed, day, n)
    people = _people(rng, n, caller_id=False)
    phones, foreign = _phones(rng, n)
    _apply_foreign(people, foreign)
    emails = _emails(rng, people)
    channel = _pick(rng, ["online", "in_store", "phone"], n, p=[0.7, 0.2, 0.1])
    online = channel == "online"
    attr = _attribution(rng, n)
    n_items = rng.integers(1, 5, size=n)
    order_idx = np.repeat(np.arange(n), n_items)
    product = rng.integers(0, len(PRODUCTS), size=len(order_idx))
    qty = rng.integers(1, 4, size=len(order_idx))
    price = np.array([PRODUCTS[p][3] for p in product])
    line_no = np.concatenate([np.arange(k) for k in n_items]) if n else np.array([], dtype=int)
    items = pd.DataFrame({
        "order_id": ids[order_idx], "line_id": pd.Series(ids[order_idx]) + "-" + pd.Series(line_no + 1).astype(str),
        "product_id": [PRODUCTS[p][0] for p in product], "sku": [PRODUCTS[p][1] for p in product],
        "title": [PRODUCTS[p][2] for p in product], "quantity": qty, "unit_price": price,
    })
    totals = pd.Series(qty * price).groupby(order_idx).sum().round(2).to_numpy()
    t = _times(rng, day, n)
    t_ms = _epoch_ms(t)
    fbclid = attr["fbclid"].to_numpy(object)
    fbc = np.where(pd.notna(fbclid) & online, ("fb.1." + t_ms + "." + attr["fbclid"].fillna("")).to_numpy(object),
                   None).astype(object)
    ua = _pick(rng, USER_AGENTS, n)
    octets = rng.integers(1, 255, size=(n, 4))
    frame = _frame({
        "id": ids, "created_at": t,
        "status": _pick(rng, ["paid", "fulfilled", "refunded", "cancelled", "test"], n,
                        p=[0.78, 0.1, 0.05, 0.04, 0.03]),
        "channel": channel, "currency": _pick(rng, CURRENCIES, n), "total": totals,
        "customer_id": pd.Series(rng.integers(1, 50_000, size=n)).map("CUST{:06d}".format).to_numpy(object),
        "email": emails, "phone": phones, "first_name": people["first"].to_numpy(object),
        "last_name": people["last"].to_numpy(object), "city": people["city"].to_numpy(object),
        "state": people["state"].to_numpy(object), "postal_code": people["zip"].to_numpy(object),
        "country": people["country"].to_numpy(object), "fbclid": np.where(online, fbclid, None).astype(object),
        "fbc": fbc, "fbp": np.where(online, ("fb.1." + t_ms + ".1234567890").to_numpy(object), None).astype(object),
        "client_ip_address": np.where(online, [f"{a}.{b}.{c}.{d}" for a, b, c, d in octets], None).astype(object),
        "client_user_agent": np.where(online, ua, None).astype(object), "session_id": None,
        "event_source_url": np.where(online, SITE + "/checkout/thank-you", None).astype(object),
    })
    frame = _duplicate(rng, frame, 0.01)
    return frame, items


def seed_days(engine: Engine, days: int, per_day: int, end_date: date, seed: int = 0,
              progress=None) -> SeedReport:
    """Generate and load ``days`` days ending at ``end_date``; each day replaces what was there."""
    create_schema(engine)  # seeding is a setup step, like init-db: the pipeline's own tables too
    counts: dict[str, int] = {t.name: 0 for t in ALL_SOURCE_TABLES}
    span = [end_date - timedelta(days=i) for i in range(days - 1, -1, -1)]
    for day in span:
        frames = generate_day(day, per_day, seed)
        start, end = _epoch(day), _epoch(day) + timedelta(days=1)
        with engine.begin() as conn:
            conn.execute(sa.delete(order_items).where(order_items.c.order_id.in_(
                sa.select(orders.c.id).where(orders.c.created_at >= start, orders.c.created_at < end))))
            for name, table in SOURCE_TABLES.items():
                delete_day(conn, table, start, end)
            for table in ALL_SOURCE_TABLES:
                counts[table.name] += bulk_insert(conn, table, frames[table.name])
        if progress:
            progress(day, {k: len(v) for k, v in frames.items()})
    return SeedReport(days=span, rows=counts)


def customer_records(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` raw customer records with every user_data key, shaped like the seeded exports.

    Columns are Meta's keys (em, ph, fn, ln, ct, st, zp, country, ge, db, external_id) holding
    raw, un-normalized values; used by the identity benchmark.
    """
    rng = np.random.default_rng([seed, 1])
    people = _people(rng, n, caller_id=False)
    phones, foreign = _phones(rng, n)
    _apply_foreign(people, foreign)
    birth = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 20_000, size=n), unit="D")
    dob_shape = rng.choice(3, size=n)
    dob = np.where(dob_shape == 0, birth.strftime("%Y-%m-%d"),
                   np.where(dob_shape == 1, birth.strftime("%m/%d/%Y"), birth.strftime("%Y%m%d"))).astype(object)
    return _frame({
        "em": _emails(rng, people), "ph": phones, "fn": people["first"].to_numpy(object),
        "ln": people["last"].to_numpy(object), "ct": people["city"].to_numpy(object),
        "st": people["state"].to_numpy(object), "zp": people["zip"].to_numpy(object),
        "country": people["country"].to_numpy(object),
        "ge": _pick(rng, ["F", "male", "m", "Female", "", "f"], n), "db": dob,
        "external_id": pd.Series(rng.integers(1, 500_000, size=n)).map(" CUST{:06d}".format).to_numpy(object),
    })
