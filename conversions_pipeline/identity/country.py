"""Countries: ISO 3166-1 alpha-2 from codes, names and the ways people write their own country;
the per-record region that picks the phone, state and ZIP rules."""

from __future__ import annotations

from functools import lru_cache

import pandas as pd
import pycountry

from .text import _JUNK, STRING, _as_series, _fold, _on_uniques, _prepare, _result

_COUNTRY_ALIASES = {
    "usa": "US", "us": "US", "unitedstates": "US", "unitedstatesofamerica": "US", "america": "US",
    "uk": "GB", "greatbritain": "GB", "england": "GB", "scotland": "GB", "wales": "GB",
    "northernireland": "GB", "britain": "GB", "unitedkingdom": "GB",
    "southkorea": "KR", "korea": "KR", "russia": "RU", "vietnam": "VN", "holland": "NL",
    "czechia": "CZ", "turkey": "TR", "iran": "IR", "laos": "LA", "syria": "SY", "bolivia": "BO",
    "venezuela": "VE", "tanzania": "TZ", "moldova": "MD", "taiwan": "TW", "uae": "AE",
    "republicofkorea": "KR", "ivorycoast": "CI", "easttimor": "TL", "burma": "MM", "macedonia": "MK",
    "swaziland": "SZ", "capeverde": "CV", "vaticancity": "VA", "palestine": "PS",
    # as people write their own country
    "deutschland": "DE", "espana": "ES", "italia": "IT", "nederland": "NL", "brasil": "BR", "schweiz": "CH",
    "suisse": "CH", "svizzera": "CH", "osterreich": "AT", "polska": "PL", "sverige": "SE", "norge": "NO",
    "danmark": "DK", "suomi": "FI", "eire": "IE", "belgique": "BE", "belgie": "BE", "magyarorszag": "HU",
    "hellas": "GR", "ellada": "GR", "nippon": "JP", "nihon": "JP", "turkiye": "TR", "hrvatska": "HR",
    "ceskarepublika": "CZ", "cesko": "CZ", "slovensko": "SK", "rossiya": "RU", "bharat": "IN",
    "zhongguo": "CN", "mexique": "MX", "perou": "PE",
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
    if key in _JUNK:  # "N.A.", "n / a", "NÀ" are written-out N/A like "NA", not Namibia
        return None
    table = _country_table()
    if key not in table and key.startswith("the"):  # "The Netherlands", "the Bahamas"
        key = key[3:]
    return table.get(key)


def country_codes(country) -> pd.Series | str | None:
    """ISO 3166-1 alpha-2 in upper case from alpha-2, alpha-3 or a common name; NA when unknown."""
    if country is None:
        return None
    if isinstance(country, str):
        return _country_key(country)
    text = _prepare(country)
    return _on_uniques(lambda u, _: _result(u.map(_country_key, na_action="ignore").astype(STRING),
                                            "unknown_country"), text)["value"]


def _norm_country(u: pd.Series, _region) -> pd.DataFrame:
    codes = u.map(_country_key, na_action="ignore").astype(STRING)
    return _result(codes.str.lower(), "unknown_country")


def _regions(country, index, default_region: str) -> pd.Series:
    """Per-record region (alpha-2, upper case) from the record's country, else the default."""
    if country is None:
        return pd.Series(default_region, index=index, dtype=STRING)
    if isinstance(country, str):
        return pd.Series(_country_key(country) or default_region, index=index, dtype=STRING)
    country = _as_series(country)
    if not country.index.equals(index):
        country = country.set_axis(index)
    return country_codes(country).fillna(default_region).astype(STRING)
