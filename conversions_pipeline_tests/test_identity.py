"""Identity rules, one table per Meta user_data key (conversions_pipeline.identity)."""

import hashlib

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conversions_pipeline import identity
from conversions_pipeline.identity import (  # rules tested against their fast paths
    hash_values,
    normalize,
    normalize_with_reasons,
    personal,
    phone,
    places,
    split_full_name,
)


def one(field, raw, country=None):
    out = normalize(field, pd.Series([raw], dtype=object), country)
    value = out.iloc[0]
    return None if pd.isna(value) else value


def reason(field, raw, country=None):
    out = normalize_with_reasons(field, pd.Series([raw], dtype=object), country)
    r = out["reason"].iloc[0]
    return None if pd.isna(r) else r


# --- golden hashes from Meta's documentation -------------------------------------------------

def test_meta_golden_phone_hash():
    ph = normalize("ph", pd.Series(["+1 (650) 555-1212"]))
    assert hash_values(ph).iloc[0] == "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"


def test_hash_is_sha256_of_utf8_bytes():
    values = pd.Series(["joe@example.com", "zoë", None])
    hashed = hash_values(values)
    assert hashed.iloc[0] == hashlib.sha256(b"joe@example.com").hexdigest()
    assert hashed.iloc[1] == hashlib.sha256("zoë".encode("utf-8")).hexdigest()
    assert pd.isna(hashed.iloc[2])


def test_existing_sha256_passes_through_lowercased_never_rehashed():
    digest = hashlib.sha256(b"joe@example.com").hexdigest()
    hashed = hash_values(pd.Series([digest.upper(), digest]))
    assert hashed.tolist() == [digest, digest]


# --- em ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("  John.Smith@Example.COM ", "john.smith@example.com"),
    ("mailto:Jane@Example.org", "jane@example.org"),
    ("MAILTO: bob@shop.co.uk", "bob@shop.co.uk"),
    ("first+tag@sub.domain.io", "first+tag@sub.domain.io"),
    ("not an email", None),
    ("john@", None),
    ("@example.com", None),
    ("john smith@example.com", "john smith@example.com"),  # the SDK keeps it too: Meta hashes what it gets
    ("José.Müller@Example.com", "josé.müller@example.com"),
    ("  Zoë@Example.FR", "zoë@example.fr"),
    ("用户@例子.广告", "用户@例子.广告"),
    ("ΑΡΗΣ@ΠΑΡΑΔΕΙΓΜΑ.ΕΛ", "ΑΡΗΣ@ΠΑΡΑΔΕΙΓΜΑ.ΕΛ".lower()),
    ("john@example", None),
    ("", None),
    (None, None),
    (float("nan"), None),
])
def test_email(raw, expected):
    assert one("em", raw) == expected


def test_email_reasons():
    assert reason("em", "john@") == "invalid_email"
    assert reason("em", "   ") == identity.MISSING
    assert reason("em", "a@b.co") is None


# --- ph ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, country, expected", [
    ("(401) 884-2310", None, "14018842310"),
    ("401.884.2310", None, "14018842310"),
    ("401-884-2310", "US", "14018842310"),
    ("+1 401 884 2310", None, "14018842310"),
    ("1-401-884-2310", None, "14018842310"),
    ("4018842310.0", None, "14018842310"),
    (4018842310.0, None, "14018842310"),
    ("(401) 884-2310 ext. 12", None, "14018842310"),
    ("401-884-2310 x123", None, "14018842310"),
    ("+14018842310", "United States", "14018842310"),
    ("020 7946 0018", "United Kingdom", "442079460018"),
    ("020 7946 0018", "UK", "442079460018"),
    ("+44 20 7946 0018", None, "442079460018"),
    ("0044 20 7946 0018", None, "442079460018"),
    ("(416) 555-0199", "Canada", "14165550199"),
    ("+49 30 901820", None, "4930901820"),
])
def test_phone_becomes_digits_with_country_code(raw, country, expected):
    assert one("ph", raw, country) == expected


@pytest.mark.parametrize("raw, why", [
    ("555-1234", "phone_not_possible"),          # too short for the US
    ("(401) 884-231", "phone_not_possible"),
    ("123456789012345678", "phone_not_possible"),
    ("no phone", "phone_no_digits"),
    ("", identity.MISSING),
])
def test_phone_that_cannot_exist_is_dropped_with_reason(raw, why):
    assert one("ph", raw) is None
    assert reason("ph", raw) == why


def test_phone_region_per_record():
    values = pd.Series(["020 7946 0018", "(401) 884-2310"])
    countries = pd.Series(["GB", "US"])
    assert normalize("ph", values, countries).tolist() == ["442079460018", "14018842310"]


def test_phone_default_region_is_configurable():
    out = normalize_with_reasons("ph", pd.Series(["020 7946 0018"]), None, default_region="GB")
    assert out["value"].iloc[0] == "442079460018"


# --- fn / ln -----------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("Mary-Jane", "maryjane"),
    ("O'Brien", "obrien"),
    ("  JOHN  ", "john"),
    ("J.", "j"),
    ("Zoë", "zoë"),
    ("Zoe\u0308", "zoë"),      # decomposed input comes out NFC
    ("José", "josé"),
    ("Straße", "straße"),
    ("123", None),
    ("", None),
])
def test_first_and_last_names(raw, expected):
    assert one("fn", raw) == expected
    assert one("ln", raw) == expected


def test_name_output_is_nfc():
    import unicodedata
    value = one("fn", "Zoe\u0308")
    assert value == unicodedata.normalize("NFC", value)


@pytest.mark.parametrize("raw, fn, ln", [
    ("John Smith", "john", "smith"),
    ("SMITH,JOHN", "john", "smith"),
    ("SMITH, JOHN A", "john", "smith"),
    ("Mary-Jane O'Brien", "maryjane", "obrien"),
    ("Dr. José Álvarez Jr.", "josé", "álvarez"),
    ("WIRELESS CALLER", None, None),
    ("UNKNOWN", None, None),
    ("ANONYMOUS", None, None),
    ("TOLL FREE CALL", None, None),
    ("PROVIDENCE RI", None, None),
    ("CALIFORNIA", None, None),
    ("LOS ANGELES", None, None),          # caller-ID shows a bare city when it has no name
    ("BOSTON", None, None),
    ("SAINT LOUIS", None, None),
    ("ST LOUIS", None, None),
    ("Boston Smith", "boston", "smith"),  # mixed case is a person
    ("JOHNSON,BOSTON", "boston", "johnson"),  # LAST,FIRST is a person even when FIRST is a city
    ("", None, None),
    (None, None, None),
])
def test_split_full_name(raw, fn, ln):
    out = split_full_name(pd.Series([raw], dtype=object))
    got_fn, got_ln = out["fn"].iloc[0], out["ln"].iloc[0]
    assert (None if pd.isna(got_fn) else got_fn) == fn
    assert (None if pd.isna(got_ln) else got_ln) == ln


def test_placeholder_names_give_a_reason():
    out = split_full_name(pd.Series(["WIRELESS CALLER"]))
    assert out["fn_reason"].iloc[0] == "name_placeholder"


# --- ct / st / zp / country -------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("New York", "newyork"),
    ("St. Louis", "stlouis"),
    ("Winston-Salem", "winstonsalem"),
    ("Montréal", "montréal"),
    ("12345", None),
])
def test_city(raw, expected):
    assert one("ct", raw) == expected


@pytest.mark.parametrize("raw, country, expected", [
    ("California", None, "ca"),
    ("CA", None, "ca"),
    ("Calif.", None, "ca"),
    ("N.Y.", None, "ny"),
    ("new york", "USA", "ny"),
    ("District of Columbia", None, "dc"),
    ("Puerto Rico", None, "pr"),
    ("Ontario", "Canada", "on"),
    ("Québec", "CA", "qc"),
    ("Greater London", "UK", "greaterlondon"),
    ("Ontario", None, "on"),       # a province written out is unambiguous under the default region
    ("British Columbia", None, "bc"),
    ("ON", None, None),            # a bare province code under the US default is not a US state
])
def test_state(raw, country, expected):
    assert one("st", raw, country) == expected


def test_unknown_us_state_is_dropped():
    assert one("st", "Narnia", "US") is None
    assert reason("st", "Narnia", "US") == "unknown_state"


@pytest.mark.parametrize("raw, country, expected", [
    ("02903", None, "02903"),
    ("2903", None, "02903"),          # spreadsheet lost the leading zero
    ("2903.0", None, "02903"),
    ("90210.0", None, "90210"),
    ("90210-1234", None, "90210"),
    ("902101234", None, "90210"),
    ("SW1A 1AA", "United Kingdom", "sw1a1aa"),
    ("M5V 3L9", "Canada", "m5v3l9"),
    ("abc", "US", None),
])
def test_zip(raw, country, expected):
    assert one("zp", raw, country) == expected


@pytest.mark.parametrize("raw, expected", [
    ("US", "us"), ("USA", "us"), ("United States", "us"), ("united states of america", "us"),
    ("UK", "gb"), ("United Kingdom", "gb"), ("GBR", "gb"), ("Canada", "ca"), ("DE", "de"),
    ("Atlantis", None), ("", None),
    ("The Netherlands", "nl"), ("the Bahamas", "bs"), ("Thailand", "th"), ("Deutschland", "de"),
    ("España", "es"), ("Ivory Coast", "ci"), ("México", "mx"),
])
def test_country(raw, expected):
    assert one("country", raw) == expected


# --- ge / db / external_id --------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("F", "f"), ("female", "f"), ("Male", "m"), (" m ", "m"), ("other", None), ("", None),
])
def test_gender(raw, expected):
    assert one("ge", raw) == expected


@pytest.mark.parametrize("raw, expected", [
    ("1990-02-14", "19900214"), ("02/14/1990", "19900214"), ("19900214", "19900214"),
    ("1990/02/14", "19900214"), ("1990-02-30", None), ("13/13/1990", None), ("yesterday", None),
])
def test_date_of_birth(raw, expected):
    assert one("db", raw) == expected


def test_external_id_is_trimmed_then_hashed_once():
    ext = normalize("external_id", pd.Series(["  cust-42 "]))
    assert ext.iloc[0] == "cust-42"
    assert hash_values(ext).iloc[0] == hashlib.sha256(b"cust-42").hexdigest()


# --- junk never raises ------------------------------------------------------------------------

@pytest.mark.parametrize("field", identity.FIELDS)
def test_junk_comes_back_missing_with_a_reason(field):
    junk = pd.Series([None, float("nan"), "", "   ", "N/A", "null", pd.NA], dtype=object)
    out = normalize_with_reasons(field, junk)
    assert out["value"].isna().all()
    assert out["reason"].notna().all()


def test_unknown_field_is_a_clear_error():
    with pytest.raises(ValueError, match="em"):
        normalize("email", pd.Series(["a@b.co"]))


# --- properties -------------------------------------------------------------------------------

_text = st.one_of(st.none(), st.text(max_size=30),
                  st.from_regex(r"\(?[2-9]\d{2}\)?[ .-]?\d{3}[ .-]?\d{4}", fullmatch=True),
                  st.emails())


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([f for f in identity.FIELDS if f != "db"]), st.lists(_text, min_size=1, max_size=8))
def test_normalizing_twice_changes_nothing(field, raw):
    once = normalize(field, pd.Series(raw, dtype=object), "US")
    twice = normalize(field, once.astype(object), "US")
    expected = once.fillna("<NA>").tolist()
    if field == "country":  # Namibia's code is how exports write N/A: "na" is read as missing, by rule
        expected = ["<NA>" if v == "na" else v for v in expected]
    assert twice.fillna("<NA>").tolist() == expected


def test_a_city_written_as_n_a_in_any_spelling_is_no_city():
    """"N/A" in a city column was already missing; "N.A." and "0NA" kept their letters and were
    sent as the city "na" (and normalizing that again gave nothing)."""
    got = normalize("ct", pd.Series(["N/A", "N.A.", "0NA", "n / a", "None.", "Nan Tso", "Providence"], dtype=object),
                    "US")
    assert got.fillna("<NA>").tolist() == ["<NA>", "<NA>", "<NA>", "<NA>", "<NA>", "nantso", "providence"]


def test_a_written_out_n_a_is_no_country_and_namibia_by_name_is():
    """"NA" in a country column is how exports say "not available"; so are "N.A.", "n / a" and
    "NÀ", which fold to the same letters. Namibia is read from its name or alpha-3 code."""
    got = normalize("country", pd.Series(["NA", "N.A.", "n / a", "NÀ", "Namibia", "NAM", "US"], dtype=object), "US")
    assert got.fillna("<NA>").tolist() == ["<NA>", "<NA>", "<NA>", "<NA>", "na", "na", "us"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=1, max_size=8))
def test_hash_values_never_double_hashes(raw):
    once = hash_values(pd.Series(raw, dtype=object))
    assert hash_values(once).tolist() == once.tolist()
    assert all(len(h) == 64 for h in once.dropna())


# --- the batch path used by extract -------------------------------------------------------------

def test_hash_user_data_matches_field_by_field_and_gives_reasons():
    records = pd.DataFrame({
        "em": ["  Jane@Example.com", "bad@", None],
        "ph": ["(401) 884-2310", "020 7946 0018", "12"],
        "zp": ["2903-1234", "SW1A 1AA", "90210.0"],
        "country": ["USA", "United Kingdom", ""],
        "db": ["02/14/1990", "1990-02-30", "19900214"],
    })
    hashed, reasons = identity.hash_user_data(records, threads=2)
    sha = lambda v: hashlib.sha256(v.encode()).hexdigest()  # noqa: E731
    assert hashed["em"].tolist()[0] == sha("jane@example.com")
    assert hashed["ph"].tolist()[:2] == [sha("14018842310"), sha("442079460018")]
    assert hashed["zp"].tolist() == [sha("02903"), sha("sw1a1aa"), sha("90210")]
    assert hashed["country"].tolist()[:2] == [sha("us"), sha("gb")]
    assert hashed["db"].tolist()[0] == sha("19900214") and pd.isna(hashed["db"].iloc[1])
    assert reasons["em"].tolist()[1:] == ["invalid_email", identity.MISSING]
    assert reasons["ph"].iloc[2] == "phone_not_possible"
    assert reasons["db"].iloc[1] == "invalid_date"
    for key in records.columns:
        one_by_one = identity.hash_with_reasons(key, records[key], records["country"])["value"]
        as_list = lambda s: [None if pd.isna(v) else v for v in s.tolist()]  # noqa: E731
        assert as_list(hashed[key]) == as_list(one_by_one), key
    assert isinstance(hashed["zp"].dtype, pd.CategoricalDtype)  # few distinct values: one string each


def test_large_inputs_take_the_vectorized_hash_path_with_the_same_answers():
    values = pd.Series([f"user{i}@example.com" for i in range(30_000)] + [None])
    hashed = hash_values(values)
    assert hashed.iloc[12345] == hashlib.sha256(b"user12345@example.com").hexdigest()
    assert pd.isna(hashed.iloc[-1])
    digest = hashlib.sha256(b"x").hexdigest().upper()
    assert hash_values(pd.Series([digest] * 25_000)).iloc[0] == digest.lower()


def test_mixed_case_state_names_stay_first_names_outside_caller_id():
    out = split_full_name(pd.Series(["Georgia Smith", "VIRGINIA"]))
    assert out["fn"].iloc[0] == "georgia"
    assert pd.isna(out["fn"].iloc[1])


# --- fast paths give the same answers as the general rules ----------------------------------------

_nanp_shaped = st.from_regex(
    r"(\+?1[ .-]?)?\(?[2-9]\d{2}\)?[ .-]?\d{3}[ .-]?\d{4}( ?(x|ext\.?|#) ?\d{1,5})?", fullmatch=True)


@settings(max_examples=120, deadline=None)
@given(st.lists(_nanp_shaped, min_size=1, max_size=20))
def test_phone_fast_path_agrees_with_libphonenumber(raw):
    fast = normalize("ph", pd.Series(raw, dtype=object), "US").tolist()
    slow = [phone._parse_phone(r, "US")[0] for r in raw]
    assert [None if pd.isna(v) else v for v in fast] == slow


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.from_regex(r"\d{3,9}", fullmatch=True),
                          st.from_regex(r"\d{5}-?\d{4}", fullmatch=True),
                          st.from_regex(r"\d{4,5}[ -]\d{3,4}", fullmatch=True)), min_size=1, max_size=20),
       st.sampled_from(["US", "GB", "CA"]))
def test_zip_fast_path_agrees_with_the_general_rules(raw, region):
    u = pd.Series(raw, dtype=identity.STRING)
    regions = pd.Series([region] * len(raw), dtype=identity.STRING)
    fast = places._norm_zip(u, regions)["value"].tolist()
    slow = places._norm_zip_general(u, regions).tolist()
    assert [None if pd.isna(v) else v for v in fast] == [None if pd.isna(v) else v for v in slow]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.one_of(st.from_regex(r"(18|19|20|21)\d{2}(0\d|1[0-4])[0-3]\d", fullmatch=True),
                          st.from_regex(r"(18|19|20|21)\d{2}-(0\d|1[0-4])-[0-3]\d", fullmatch=True),
                          st.from_regex(r"[0-3]?\d/[0-3]?\d/(18|19|20|21)\d{2}", fullmatch=True)),
                min_size=1, max_size=20))
def test_date_fast_path_agrees_with_the_general_rules(raw):
    u = pd.Series(raw, dtype=identity.STRING)
    fast = personal._norm_dob(u, None)["value"].tolist()
    slow = personal._norm_dob_general(u).tolist()
    assert [None if pd.isna(v) else v for v in fast] == [None if pd.isna(v) else v for v in slow]


def test_keep_digits_handles_empty_and_missing_values_anywhere():
    import pyarrow as pa
    arr = pa.array(["", "(401) 884-2310", None, "", "x", "12", "", None, "a1b2", ""], pa.large_string())
    out = phone._keep_digits(arr.slice(0)).to_pylist()
    assert out == ["", "4018842310", None, "", "", "12", "", None, "12", ""]
    assert phone._keep_digits(arr.slice(3, 4)).to_pylist() == ["", "", "12", ""]


@pytest.mark.parametrize("phone, country", [
    ("14018842310", "us"), ("16135550123", "ca"), ("18095551234", "do"),  # North America by area code
    ("442079460018", "gb"), ("441534123456", "je"), ("74951234567", "ru"), ("77012345678", "kz"),
    ("33123456789", "fr"), ("12", None), (None, None),
])
def test_phone_countries(phone, country):
    got = identity.phone_countries(pd.Series([phone], dtype=object)).iloc[0]
    assert (None if pd.isna(got) else got) == country


# --- the SDK's email rule ---------------------------------------------------------------------

def _sdk_email(raw):
    from facebook_business.adobjects.serverside.normalize import Normalize
    try:
        return Normalize.normalize_field_skip_hashing("em", raw)
    except TypeError:  # the SDK raises for what it refuses
        return None


_letters = st.characters(categories=("Ll", "Lu", "Lo", "Mn", "Nd"))
_part = st.text(_letters, min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.emails(),
    st.builds(lambda a, b, c, pad: f"{pad}{a}@{b}.{c}{pad}", _part, _part, _part, st.sampled_from(["", " ", "\t"])),
    st.text(max_size=25)), min_size=1, max_size=10))
def test_every_email_the_sdk_keeps_we_keep_and_hash_alike(raw):
    ours = normalize("em", pd.Series(raw, dtype=object))
    for value, got in zip(raw, ours.tolist()):
        sdk = _sdk_email(value)
        if sdk is None or sdk.startswith("mailto:"):
            continue
        assert got == sdk, (value, got, sdk)


@pytest.mark.parametrize("caller_id", [False, True])
def test_placeholder_names_decided_in_arrow_as_the_rule_decides_them(caller_id):
    from conversions_pipeline.identity import STRING
    from conversions_pipeline.identity.names import _is_placeholder_name, _placeholders
    from conversions_pipeline.warehouse.seed import customer_records

    shapes = ["Mary", "MARY", "Unknown", "WIRELESS CALLER", "Bob2", "", "  ", "José", "RHODE ISLAND", "Georgia",
              "GEORGIA", "NEW YORK", "PROVIDENCE RI", "Boston, MA", "BOSTON", "LOS ANGELES", "o'neil", "Smith,John",
              "SMITH,JOHN", "N/A", "x", "Ñoño", "ＭＡＲＹ", "Mary²", "De La Cruz", "Test", "name", "NY", "Ny", "Ca",
              "CALIFORNIA", "California", "mr. SMITH", "123", "TEST CALL"]
    records = customer_records(5_000, seed=3)
    names = [v for col in ("fn", "ln") if col in records for v in records[col].dropna().tolist()]
    values = pd.Series(list(dict.fromkeys(shapes + names)), dtype=STRING)
    expected = [_is_placeholder_name(v, caller_id=caller_id) for v in values.tolist()]
    assert _placeholders(values, caller_id=caller_id).tolist() == expected
    assert sum(expected) >= 10 and len(expected) - sum(expected) >= 10
