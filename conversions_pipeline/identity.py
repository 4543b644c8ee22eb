"""Normalize and hash customer information exactly the way Meta matches it.

Meta finds the person behind an event only when our SHA-256 of a phone, email or name is
byte-identical to the one it computes from its own profile, so every rule here follows Meta's
documented normalization (see ``shared/capi-facts.md`` and Meta's "Customer Information
Parameters" page), not the behaviour of any SDK.

Public API (pure functions, vectorized over pandas; no Dagster):

- :func:`normalize` - normalized, unhashed strings; missing where a value must not be sent.
- :func:`normalize_with_reasons` - the same plus the reason each value was dropped.
- :func:`split_full_name` - ``fn``/``ln`` from "First Last" and caller-ID "LAST,FIRST" names.
- :func:`hash_values` - SHA-256 hex; 64-hex inputs pass through lowercased, never hashed twice.
- :func:`country_codes` - ISO 3166-1 alpha-2 (upper case) from codes and names, for regions.

Speed: string work runs on Arrow-backed strings; low-cardinality fields (state, city, ZIP,
country, gender, names) are normalized once per distinct value; phones take a vectorized
North-American fast path validated against libphonenumber's own metadata, and only the rest go
through ``phonenumbers.parse``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pandas as pd
import phonenumbers
import pycountry

FIELDS = ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "ge", "db", "external_id")
"""Meta user_data keys this module normalizes; all of them are sent hashed."""

DEFAULT_REGION = "US"

STRING = pd.StringDtype("pyarrow")

# Reasons a value is not sent (the ledger and the reports show these).
MISSING = "missing"
ALREADY_HASHED = None  # a valid SHA-256 passes through: no reason

_SHA256_RE = r"^[0-9A-Fa-f]{64}$"
_JUNK = {"nan", "none", "null", "n/a", "na", "-", "--", "undefined", "unknown", "?", "0"}


# --- shared helpers ------------------------------------------------------------------------


def _as_series(values) -> pd.Series:
    if isinstance(values, pd.Series):
        return values
    return pd.Series(list(values) if not isinstance(values, (list, np.ndarray)) else values, dtype=object)


def _prepare(values) -> pd.Series:
    """Raw values as trimmed Arrow strings; None, NaN, empty and junk become NA.

    Numbers exported as floats ("4018842310.0", 90210.0) are read as their integer text.
    """
    s = _as_series(values)
    if pd.api.types.is_float_dtype(s.dtype):
        s = s.map(lambda v: None if pd.isna(v) else (str(int(v)) if float(v).is_integer() else repr(v)))
    elif pd.api.types.is_integer_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        s = s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else str(v))
    elif s.dtype == object:
        floats = s.map(type) == float
        if floats.any():
            s = s.copy()
            s[floats] = s[floats].map(lambda v: None if v != v else (str(int(v)) if float(v).is_integer() else repr(v)))
    text = s.astype(STRING).str.strip()
    text = text.str.replace(r"^([0-9]+)\.0+$", r"\1", regex=True)
    junk = text.str.lower().isin(_JUNK) | (text == "")
    return text.mask(junk)


def _result(values: pd.Series, reasons: pd.Series) -> pd.DataFrame:
    values = values.astype(STRING)
    reasons = reasons.astype(STRING).mask(values.notna())
    return pd.DataFrame({"value": values, "reason": reasons})


def _on_uniques(func: Callable[[pd.Series, pd.Series | None], pd.DataFrame], text: pd.Series,
                region: pd.Series | None = None) -> pd.DataFrame:
    """Run ``func`` once per distinct (value, region) and spread the answers back."""
    if region is None:
        codes, uniques = pd.factorize(text, use_na_sentinel=True)
        u = pd.Series(uniques, dtype=STRING)
        out = func(u, None)
    else:
        key = (text + "\x1f" + region.fillna("")).astype(object)
        codes, _ = pd.factorize(key, use_na_sentinel=True)  # NA text gives an NA key: code -1
        present = np.flatnonzero(codes >= 0)
        first = pd.Series(present).groupby(codes[present]).first().to_numpy()
        u_text = text.iloc[first].reset_index(drop=True)
        u_region = region.iloc[first].reset_index(drop=True)
        out = func(u_text, u_region)
    take = np.where(codes < 0, 0, codes)
    if len(out) == 0:
        values = pd.Series(pd.NA, index=text.index, dtype=STRING)
        reasons = pd.Series(MISSING, index=text.index, dtype=STRING)
        return pd.DataFrame({"value": values, "reason": reasons})
    values = pd.Series(out["value"].to_numpy()[take], index=text.index, dtype=STRING)
    reasons = pd.Series(out["reason"].to_numpy()[take], index=text.index, dtype=STRING)
    missing = codes < 0
    values[missing] = pd.NA
    reasons[missing] = MISSING
    return pd.DataFrame({"value": values, "reason": reasons.mask(values.notna())})


def _fold(text: str) -> str:
    """Lowercase ASCII letters only, accents removed: a lookup key for names of places."""
    decomposed = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^a-z]", "", "".join(c for c in decomposed if not unicodedata.combining(c)).lower())


def _letters_only(s: pd.Series) -> pd.Series:
    """NFC, lowercase, every character that is not a letter (or its combining mark) removed."""
    nfc = s.str.normalize("NFC").str.lower()
    return nfc.str.replace(r"[^\p{L}\p{M}]+", "", regex=True).mask(lambda x: x == "")


def _is_sha256(text: pd.Series) -> pd.Series:
    return text.str.fullmatch(_SHA256_RE).fillna(False).astype(bool)


# --- country -------------------------------------------------------------------------------

_COUNTRY_ALIASES = {
    "usa": "US", "us": "US", "unitedstates": "US", "unitedstatesofamerica": "US", "america": "US",
    "uk": "GB", "greatbritain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northernireland": "GB", "britain": "GB", "unitedkingdom": "GB",
    "southkorea": "KR", "korea": "KR", "russia": "RU", "vietnam": "VN", "holland": "NL",
    "czechia": "CZ", "turkey": "TR", "iran": "IR", "laos": "LA", "syria": "SY", "bolivia": "BO",
    "venezuela": "VE", "tanzania": "TZ", "moldova": "MD", "taiwan": "TW", "uae": "AE",
}


@lru_cache(maxsize=1)
def _country_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            name = getattr(c, attr, None)
            if name:
                table.setdefault(_fold(name), c.alpha_2)
        table[c.alpha_3.lower()] = c.alpha_2
        table[c.alpha_2.lower()] = c.alpha_2
    table.update(_COUNTRY_ALIASES)
    return table


def _country_key(raw: str) -> str | None:
    key = _fold(raw)
    return _country_table().get(key)


def country_codes(country) -> pd.Series | str | None:
    """ISO 3166-1 alpha-2 in upper case from alpha-2, alpha-3 or a common name; NA when unknown."""
    if country is None:
        return None
    if isinstance(country, str):
        return _country_key(country)
    text = _prepare(country)
    return _on_uniques(lambda u, _: _result(u.map(_country_key, na_action="ignore").astype(STRING),
                                            pd.Series("unknown_country", index=u.index)), text)["value"]


def _norm_country(u: pd.Series, _region) -> pd.DataFrame:
    codes = u.map(_country_key, na_action="ignore").astype(STRING)
    return _result(codes.str.lower(), pd.Series("unknown_country", index=u.index))


def _regions(country, index, default_region: str) -> pd.Series:
    """Per-record region (alpha-2, upper case) from the record's country, else the default."""
    if country is None:
        return pd.Series(default_region, index=index, dtype=STRING)
    if isinstance(country, str):
        return pd.Series(_country_key(country) or default_region, index=index, dtype=STRING)
    codes = country_codes(pd.Series(_as_series(country).to_numpy(), index=index))
    return codes.fillna(default_region).astype(STRING)


# --- email ---------------------------------------------------------------------------------

_EMAIL_RE = (
    r"^[\w!#$%&'*+/=?^`{|}~-]+(?:\.[\w!#$%&'*+/=?^`{|}~-]+)*"
    r"@(?:[\w](?:[\w-]{0,61}[\w])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{2,59})$"
)


def _norm_email(text: pd.Series) -> pd.DataFrame:
    s = text.str.lower().str.strip().str.replace(r"^mailto:\s*", "", regex=True).str.strip()
    ok = s.str.fullmatch(_EMAIL_RE).fillna(False).astype(bool)
    return _result(s.where(ok), pd.Series("invalid_email", index=text.index))


# --- phone ---------------------------------------------------------------------------------

_EXTENSION_RE = r"(?i)\s*[,;]?\s*(?:ext\.?|extension|ex\.?|x|#)\s*\d{1,7}\s*$"
_PHONE_TYPES = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "personal_number",
                "voip", "pager", "uan", "voicemail")


@lru_cache(maxsize=1)
def _nanp() -> tuple[frozenset[str], str]:
    """Regions sharing country code 1, and libphonenumber's union of their valid national patterns."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]
    patterns = []
    for region in regions:
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        for kind in _PHONE_TYPES:
            desc = getattr(meta, kind, None)
            if desc is not None and desc.national_number_pattern:
                patterns.append(f"(?:{desc.national_number_pattern})")
    return frozenset(regions), "^(?:" + "|".join(sorted(set(patterns))) + ")$"


def _parse_phone(text: str, region: str) -> tuple[str | None, str | None]:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, "phone_unparseable"
    if not phonenumbers.is_valid_number(number):
        return None, "phone_not_possible"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:], None


def _norm_phone(text: pd.Series, region: pd.Series) -> pd.DataFrame:
    nanp_regions, nanp_pattern = _nanp()
    core = text.str.replace(_EXTENSION_RE, "", regex=True).str.strip()
    plus = core.str.startswith("+").fillna(False).astype(bool)
    digits = core.str.replace(r"\D", "", regex=True)
    n = digits.str.len().fillna(0).astype(int)
    in_nanp = region.isin(nanp_regions).to_numpy()
    lead1 = digits.str.startswith("1").fillna(False).astype(bool)
    fast = ((~plus & in_nanp & ((n == 10) | ((n == 11) & lead1))) | (plus & lead1 & (n == 11))).to_numpy()
    national = digits.str[-10:]
    valid = national.str.fullmatch(nanp_pattern).fillna(False).astype(bool).to_numpy()
    value = pd.Series(pd.NA, index=text.index, dtype=STRING)
    reason = pd.Series("phone_not_possible", index=text.index, dtype=STRING)
    value[fast & valid] = ("1" + national)[fast & valid]
    no_digits = (n == 0).to_numpy()
    reason[no_digits] = "phone_no_digits"
    slow = ~fast & ~no_digits
    if slow.any():
        # "00" and "011" international prefixes written without "+" are read as "+".
        slow_text = core[slow].str.replace(r"^\s*(?:00|011)(?=[1-9])", "+", regex=True)
        parsed = [_parse_phone(t, r) for t, r in zip(slow_text.tolist(), region[slow].tolist())]
        value[slow] = [p[0] for p in parsed]
        reason[slow] = [p[1] or "phone_not_possible" for p in parsed]
    return _result(value, reason)


# --- names ---------------------------------------------------------------------------------

_PLACEHOLDER_NAMES = {
    "wirelesscaller", "unknown", "unknowncaller", "unknownname", "anonymous", "tollfreecall", "tollfree",
    "private", "privatecaller", "privatenumber", "restricted", "unavailable", "outofarea", "cellphone",
    "wireless", "cellular", "blocked", "nocallerid", "callerid", "name", "test", "testcall", "spam",
    "spamlikely", "scamlikely", "potentialspam", "telemarketer", "voicemail", "na", "none", "caller",
}
_PREFIX_RE = r"(?i)^(?:mr|mrs|ms|miss|mx|dr|prof|rev)\.?\s+"
_SUFFIX_RE = r"(?i)[\s,]+(?:jr|sr|ii|iii|iv|md|phd|esq)\.?\s*$"


@lru_cache(maxsize=1)
def _state_tables() -> tuple[dict[str, str], dict[str, str]]:
    """Lookup keys (folded names, codes, AP abbreviations) to US and Canadian codes, lower case."""
    us: dict[str, str] = {}
    ca: dict[str, str] = {}
    for table, country in ((us, "US"), (ca, "CA")):
        for sub in pycountry.subdivisions.get(country_code=country):
            code = sub.code.split("-")[1].lower()
            table[_fold(sub.name)] = code
            table[code] = code
    # US territories that ISO lists as separate countries.
    for code, name in (("pr", "Puerto Rico"), ("gu", "Guam"), ("vi", "Virgin Islands"), ("as", "American Samoa"),
                       ("mp", "Northern Mariana Islands"), ("um", "United States Minor Outlying Islands")):
        us.setdefault(code, code)
        us.setdefault(_fold(name), code)
    us.update({"usvirginislands": "vi", "washingtondc": "dc", "districtofcolumbia": "dc", "dc": "dc"})
    ap = {"ala": "al", "ariz": "az", "ark": "ar", "calif": "ca", "cal": "ca", "colo": "co", "conn": "ct",
          "del": "de", "fla": "fl", "ga": "ga", "ill": "il", "ind": "in", "kan": "ks", "kans": "ks", "ky": "ky",
          "la": "la", "md": "md", "mass": "ma", "mich": "mi", "minn": "mn", "miss": "ms", "mo": "mo",
          "mont": "mt", "neb": "ne", "nebr": "ne", "nev": "nv", "okla": "ok", "ore": "or", "oreg": "or",
          "pa": "pa", "penn": "pa", "tenn": "tn", "tex": "tx", "vt": "vt", "va": "va", "wash": "wa",
          "wva": "wv", "wis": "wi", "wisc": "wi", "wyo": "wy"}
    for key, code in ap.items():
        us.setdefault(key, code)
    ca.update({"que": "qc", "pq": "qc", "ont": "on", "alta": "ab", "sask": "sk", "man": "mb", "nfld": "nl",
               "newfoundland": "nl", "labrador": "nl", "pei": "pe", "yukonterritory": "yt"})
    return us, ca


@lru_cache(maxsize=1)
def _place_name_keys() -> frozenset[str]:
    """Folded US and Canadian state/province names and codes: caller-ID shows these instead of names."""
    us, ca = _state_tables()
    return frozenset(us) | frozenset(ca)


def _is_placeholder_name(raw: str, caller_id: bool = False) -> bool:
    folded = _fold(raw)
    if not folded or folded in _PLACEHOLDER_NAMES or any(ch.isdigit() for ch in raw):
        return True
    tokens = raw.replace(",", " ").split()
    if folded in _state_tables()[0] and (len(tokens) > 1 or (caller_id and raw.isupper() and len(folded) > 2)):
        return True  # "RHODE ISLAND", "NEW YORK"; caller-ID "CALIFORNIA" (mixed-case "Georgia" is a name)
    # caller-ID "PROVIDENCE RI" / "BOSTON, MA": an upper-case city followed by a state code
    if raw.isupper() and len(tokens) >= 2 and len(tokens[-1]) == 2 and tokens[-1].lower() in _state_tables()[0]:
        return True
    return False


def _norm_name(text: pd.Series) -> pd.DataFrame:
    placeholder = text.map(_is_placeholder_name, na_action="ignore").fillna(True).astype(bool)
    value = _letters_only(text).where(~placeholder)
    reason = pd.Series("name_placeholder", index=text.index).where(placeholder, "name_without_letters")
    return _result(value, reason)


def _split_uniques(u: pd.Series) -> pd.DataFrame:
    cleaned = u.str.replace(_PREFIX_RE, "", regex=True).str.replace(_SUFFIX_RE, "", regex=True).str.strip()
    placeholder = u.map(lambda raw: _is_placeholder_name(raw, caller_id=True), na_action="ignore")
    placeholder = placeholder.fillna(True).astype(bool)
    comma = cleaned.str.contains(",", regex=False).fillna(False).astype(bool)
    last_first = cleaned.str.extract(r"^\s*([^,]+?)\s*,\s*([^\s,]+)")
    tokens = cleaned.str.extract(r"^\s*(\S+)(?:.*\s(\S+))?\s*$")
    first = tokens[0].where(~comma, last_first[1])
    last = tokens[1].where(~comma, last_first[0])
    fn = _letters_only(first.astype(STRING)).where(~placeholder)
    ln = _letters_only(last.astype(STRING)).where(~placeholder)
    reason = pd.Series("name_placeholder", index=u.index).where(placeholder, "name_without_letters")
    return pd.DataFrame({
        "fn": fn.astype(STRING), "ln": ln.astype(STRING),
        "fn_reason": reason.mask(fn.notna()).astype(STRING),
        "ln_reason": reason.mask(ln.notna()).where(~(first.notna() & last.isna()), "single_name").mask(ln.notna()).astype(STRING),
    })


def split_full_name(values) -> pd.DataFrame:
    """``fn`` and ``ln`` (normalized, unhashed) from full names, with ``fn_reason``/``ln_reason``.

    "Mary-Jane O'Neil" gives maryjane / oneil; caller-ID "SMITH,JOHN" gives john / smith;
    placeholders such as "WIRELESS CALLER", "UNKNOWN" or a bare "PROVIDENCE RI" give nothing.
    """
    text = _prepare(values)
    codes, uniques = pd.factorize(text)
    u = _split_uniques(pd.Series(uniques, dtype=STRING))
    take = np.where(codes < 0, 0, codes)
    out = pd.DataFrame(index=text.index)
    for col in u.columns:
        col_values = u[col].to_numpy()[take] if len(u) else np.full(len(text), pd.NA, dtype=object)
        out[col] = pd.Series(col_values, index=text.index, dtype=STRING)
    missing = codes < 0
    out.loc[missing, ["fn", "ln"]] = pd.NA
    out.loc[missing, ["fn_reason", "ln_reason"]] = MISSING
    return out


# --- places --------------------------------------------------------------------------------


def _norm_city(u: pd.Series, _region) -> pd.DataFrame:
    return _result(_letters_only(u), pd.Series("invalid_city", index=u.index))


def _state_one(raw: str, region: str) -> str | None:
    us, ca = _state_tables()
    key = _fold(raw)
    if not key:
        return None
    if region in ("US", "PR", "GU", "VI", "AS", "MP", "UM"):
        return us.get(key)
    if region == "CA":
        return ca.get(key)
    generic = unicodedata.normalize("NFC", raw).lower()
    generic = re.sub(r"[^\w]|_", "", generic)
    return generic or None


def _norm_state(u: pd.Series, region: pd.Series) -> pd.DataFrame:
    values = [_state_one(t, r) for t, r in zip(u.tolist(), region.tolist())]
    return _result(pd.Series(values, index=u.index, dtype=STRING), pd.Series("unknown_state", index=u.index))


def _zip_one(raw: str, region: str) -> tuple[str | None, str | None]:
    compact = re.sub(r"[\s\-]", "", unicodedata.normalize("NFC", raw)).lower()
    if region == "US":
        m = re.fullmatch(r"(\d{3,5})(?:-?\s*\d{4})?", raw.strip())
        if m is None:
            m = re.fullmatch(r"(\d{9})", compact)
            if m is None:
                return None, "invalid_zip"
            return m.group(1)[:5], None
        return m.group(1).zfill(5), None
    compact = re.sub(r"[^\w]|_", "", compact)
    return (compact or None), (None if compact else "invalid_zip")


def _norm_zip(u: pd.Series, region: pd.Series) -> pd.DataFrame:
    pairs = [_zip_one(t, r) for t, r in zip(u.tolist(), region.tolist())]
    return _result(pd.Series([p[0] for p in pairs], index=u.index, dtype=STRING),
                   pd.Series([p[1] for p in pairs], index=u.index))


# --- gender, date of birth, external id ----------------------------------------------------

_GENDER = {"f": "f", "female": "f", "woman": "f", "w": "f", "girl": "f", "fem": "f",
           "m": "m", "male": "m", "man": "m", "boy": "m"}


def _norm_gender(u: pd.Series, _region) -> pd.DataFrame:
    return _result(u.map(lambda v: _GENDER.get(_fold(v)), na_action="ignore").astype(STRING),
                   pd.Series("invalid_gender", index=u.index))


_DATE_FORMATS = ("%Y%m%d", "%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%m-%d-%Y", "%d.%m.%Y",
                 "%m/%d/%y", "%B %d %Y", "%b %d %Y", "%d %B %Y", "%d %b %Y")


def _date_one(raw: str) -> str | None:
    from datetime import datetime

    text = re.sub(r"[T ]\d{1,2}:\d{2}.*$", "", raw.strip())  # drop a time part
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.replace(",", " "))
    text = re.sub(r"\s+", " ", text).strip()
    for fmt in _DATE_FORMATS:
        try:
            d = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if fmt == "%m/%d/%y" and d.year > datetime.now().year:
            d = d.replace(year=d.year - 100)
        if 1900 <= d.year <= datetime.now().year:
            return d.strftime("%Y%m%d")
        return None
    return None


def _norm_dob(u: pd.Series, _region) -> pd.DataFrame:
    return _result(u.map(_date_one, na_action="ignore").astype(STRING), pd.Series("invalid_date", index=u.index))


def _norm_external_id(text: pd.Series) -> pd.DataFrame:
    return _result(text, pd.Series(MISSING, index=text.index))


# --- public API ----------------------------------------------------------------------------


def normalize_with_reasons(field: str, values, country=None, default_region: str = DEFAULT_REGION) -> pd.DataFrame:
    """Columns ``value`` (normalized, unhashed; NA where not sendable) and ``reason`` (why dropped).

    ``country`` is the record's own country as the source gave it (a Series aligned with
    ``values``, one string, or None); it picks the phone region and the state and ZIP rules.
    A value that already is a SHA-256 hex digest passes through lowercased.
    """
    if field not in FIELDS:
        raise ValueError(f"unknown user_data field {field!r}; expected one of {', '.join(FIELDS)}")
    text = _prepare(values)
    hashed = _is_sha256(text)
    work = text.mask(hashed)
    if field == "em":
        out = _norm_email(work)
    elif field == "external_id":
        out = _norm_external_id(work)
    elif field == "ph":
        out = _on_uniques(_norm_phone, work, _regions(country, text.index, default_region))
    elif field in ("fn", "ln"):
        out = _on_uniques(lambda u, _: _norm_name(u), work)
    elif field == "ct":
        out = _on_uniques(_norm_city, work)
    elif field == "st":
        out = _on_uniques(_norm_state, work, _regions(country, text.index, default_region))
    elif field == "zp":
        out = _on_uniques(_norm_zip, work, _regions(country, text.index, default_region))
    elif field == "country":
        out = _on_uniques(_norm_country, work)
    elif field == "ge":
        out = _on_uniques(_norm_gender, work)
    else:  # db
        out = _on_uniques(_norm_dob, work)
    value = out["value"].astype(STRING)
    reason = out["reason"].astype(STRING)
    if hashed.any():
        value = value.where(~hashed, text.str.lower())
        reason = reason.mask(hashed)
    reason = reason.where(text.notna(), MISSING).mask(value.notna())
    return pd.DataFrame({"value": value, "reason": reason}, index=text.index)


def normalize(field: str, values, country=None, default_region: str = DEFAULT_REGION) -> pd.Series:
    """Normalized, unhashed strings (Arrow-backed), missing wherever the value must not be sent."""
    return normalize_with_reasons(field, values, country, default_region)["value"]


def hash_values(values) -> pd.Series:
    """SHA-256 hex of the UTF-8 bytes; a 64-hex input passes through lowercased; NA stays NA."""
    text = _as_series(values).astype(STRING)
    codes, uniques = pd.factorize(text)
    hashes = np.array(
        [u.lower() if len(u) == 64 and _HEX.fullmatch(u) else hashlib.sha256(u.encode("utf-8")).hexdigest()
         for u in uniques.tolist()],
        dtype=object,
    )
    out = pd.Series(hashes[np.where(codes < 0, 0, codes)] if len(hashes) else np.full(len(text), None),
                    index=text.index, dtype=STRING)
    return out.mask(codes < 0)


_HEX = re.compile(r"[0-9A-Fa-f]{64}")
