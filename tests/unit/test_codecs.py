import json

import numpy as np
import pytest

from inference_image import codecs
from inference_image.errors import BadRequest, NotAcceptable, UnsupportedMediaType
from inference_image.spec import ModelSpec

SPEC = ModelSpec.from_dict({
    "framework": "pipeline", "files": {},
    "features": [{"name": "a", "type": "number"}, {"name": "s", "type": "string"},
                 {"name": "b", "type": "number", "required": False}],
})
TYPES = ("text/csv", "application/json", "application/jsonlines")


def test_csv_rows_missing_and_quotes():
    table = codecs.decode_csv(b'1.5,x,2\n3,"y",\n', SPEC)
    assert table.numeric.tolist()[0] == [1.5, 2.0]
    assert np.isnan(table.numeric[1, 1])
    assert table.strings.tolist() == [["x"], ["y"]]


def test_csv_wrong_feature_count_names_the_row():
    with pytest.raises(BadRequest) as err:
        codecs.decode_csv(b"1,x,2\n1,x\n", SPEC)
    assert err.value.row == 1 and "takes 3" in err.value.message


def test_csv_bad_number_names_row_and_column():
    with pytest.raises(BadRequest) as err:
        codecs.decode_csv(b"1,x,2\n1,x,abc\n", SPEC)
    assert (err.value.row, err.value.column) == (1, "b")


def test_required_value_missing():
    with pytest.raises(BadRequest) as err:
        codecs.decode_csv(b"1,x,2\n,x,2\n", SPEC)
    assert (err.value.row, err.value.column) == (1, "a")


def test_large_csv_pandas_path_matches_small_path():
    body = b"".join(b"%d.25,%s,%s\n" % (i, b"xy"[i % 2:i % 2 + 1], b"" if i % 7 == 0 else b"3") for i in range(3000))
    assert len(body) > codecs.PANDAS_THRESHOLD_BYTES
    fast = codecs._csv_with_pandas(body, SPEC)
    text_rows = [r.split(",") for r in body.decode().splitlines()]
    careful = codecs._from_cells(np.array(text_rows, dtype=str), SPEC)
    assert fast is not None
    np.testing.assert_array_equal(fast.numeric, careful.numeric)
    assert fast.strings.tolist() == careful.strings.tolist()


def test_large_csv_with_a_short_row_is_refused_with_its_row():
    rows = [b"1,x,2"] * 3000
    rows[2500] = b"1,x"
    with pytest.raises(BadRequest) as err:
        codecs.decode_csv(b"\n".join(rows) + b"\n", SPEC)
    assert err.value.row == 2500


NUMBERS = ModelSpec.from_dict({"framework": "sklearn", "files": {},
                                "features": [{"name": "a"}, {"name": "b", "required": False}, {"name": "c"}]})


def _careful(body: bytes, spec) -> np.ndarray:
    return codecs._from_cells(np.array([r.split(",") for r in body.decode().splitlines() if r], dtype=str), spec).numeric


def test_large_numbers_only_csv_takes_the_fastest_path_and_matches_the_small_path():
    body = b"".join(b"%d.125,-%d.5e-3,%d\n" % (i, i, i % 9) for i in range(3000))
    fast = codecs._csv_numbers(body.decode(), body, NUMBERS)
    assert fast is not None and fast.numeric.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(fast.numeric, _careful(body, NUMBERS))
    np.testing.assert_array_equal(codecs.decode_csv(body, NUMBERS).numeric, fast.numeric)


@pytest.mark.parametrize("hole", [b",", b"\n", b"start"])
def test_a_missing_value_leaves_the_fastest_path_and_is_still_read(hole):
    rows = [b"1.5,2.5,3"] * 3000
    rows[10] = {b",": b"1.5,,3", b"\n": b"1.5,2.5,", b"start": b",2.5,3"}[hole]
    body = b"\n".join(rows) + b"\n"
    assert codecs._csv_numbers(body.decode(), body, NUMBERS) is None
    if hole == b",":  # b may be missing
        assert np.isnan(codecs.decode_csv(body, NUMBERS).numeric[10, 1])
    else:  # a and c may not
        with pytest.raises(BadRequest) as err:
            codecs.decode_csv(body, NUMBERS)
        assert err.value.row == 10


def test_the_fastest_path_hands_ragged_bodies_and_required_nans_to_the_careful_one():
    rows = [b"1,2,3"] * 3000
    rows[2999] = b"1,2,3,4"
    with pytest.raises(BadRequest) as err:
        codecs.decode_csv(b"\n".join(rows) + b"\n", NUMBERS)
    assert err.value.row == 2999 and "takes 3" in err.value.message
    rows[2999] = b"nan,2,3"
    with pytest.raises(BadRequest) as err:
        codecs.decode_csv(b"\n".join(rows) + b"\n", NUMBERS)
    assert (err.value.row, err.value.column) == (2999, "a")


def test_json_shapes():
    for body in ({"instances": [[1, "x", 2]]}, [[1, "x", 2]], [1, "x", 2], {"instances": [{"a": 1, "s": "x", "b": 2}]}):
        table = codecs.decode_json(json.dumps(body).encode(), SPEC)
        assert table.numeric.tolist() == [[1.0, 2.0]] and table.strings.tolist() == [["x"]]


def test_json_object_rows_may_omit_optional_features():
    table = codecs.decode_json(b'{"instances": [{"a": 1, "s": "x"}]}', SPEC)
    assert np.isnan(table.numeric[0, 1])


@pytest.mark.parametrize("body, row, column", [
    (b'{"instances": [[1, "x", 2], [1, "x", "q"]]}', 1, "b"),
    (b'{"instances": [{"a": 1, "s": "x", "zz": 3}]}', 0, "zz"),
    (b'{"instances": [[1, "x"]]}', 0, None),
    (b'{"instances": [[true, "x", 1]]}', 0, "a"),
])
def test_json_errors_locate(body, row, column):
    with pytest.raises(BadRequest) as err:
        codecs.decode_json(body, SPEC)
    assert (err.value.row, err.value.column) == (row, column)


def test_malformed_json_and_jsonlines():
    with pytest.raises(BadRequest, match="not valid JSON"):
        codecs.decode_json(b'{"instances": [', SPEC)
    with pytest.raises(BadRequest) as err:
        codecs.decode_jsonlines(b'[1, "x", 2]\n{oops\n', SPEC)
    assert err.value.row == 1


def test_jsonlines_rows():
    table = codecs.decode_jsonlines(b'[1, "x", 2]\n\n{"a": 3, "s": "y", "b": 4}\n', SPEC)
    assert table.numeric.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_empty_and_non_utf8_bodies():
    with pytest.raises(BadRequest, match="empty"):
        codecs.decode(b"  \n", "text/csv", SPEC)
    with pytest.raises(BadRequest, match="UTF-8"):
        codecs.decode(b"\xff\xfe1,x,2", "text/csv", SPEC)


def test_content_type_with_charset_and_refusals():
    assert codecs.parse_content_type("text/csv; charset=utf-8", TYPES) == "text/csv"
    assert codecs.parse_content_type("Application/JSON", TYPES) == "application/json"
    for bad in (None, "", "text/plain", "text/csv; charset=latin-1"):
        with pytest.raises(UnsupportedMediaType):
            codecs.parse_content_type(bad, TYPES)


@pytest.mark.parametrize("header, chosen", [
    (None, "application/json"), ("*/*", "application/json"), ("text/csv", "text/csv"),
    ("text/*", "text/csv"), ("application/jsonlines;q=0.9, text/csv", "text/csv"),
    ("image/png, application/jsonlines", "application/jsonlines"),
])
def test_accept_negotiation(header, chosen):
    assert codecs.choose_accept(header, TYPES, "application/json") == chosen


def test_unsupported_accept():
    with pytest.raises(NotAcceptable):
        codecs.choose_accept("image/png", TYPES, "application/json")
    with pytest.raises(NotAcceptable):
        codecs.choose_accept("text/csv;q=0", TYPES, "application/json")


def test_encoders():
    preds = np.array([1.5, 2.0], dtype=np.float32)
    assert json.loads(codecs.encode(preds, "application/json", SPEC)) == {"predictions": [1.5, 2.0]}
    assert codecs.encode(preds, "text/csv", SPEC) == b"1.5\n2.0\n"
    assert codecs.encode(preds, "application/jsonlines", SPEC) == b'{"prediction": 1.5}\n{"prediction": 2.0}\n'
    assert codecs.encode(np.array([[0.1, 0.9]]), "text/csv", SPEC) == b"0.1,0.9\n"


@pytest.mark.parametrize("cell", [b"nan", b"-inf", b" Infinity", b"1e400", b"1\x0b", b"1_000", b"\xd9\xa1", b"0x10",
                                  b"1\x00"])
def test_what_a_fast_parser_reads_and_the_grammar_does_not_is_refused_in_a_large_body(cell):
    rows = [b"1,x,2"] * 3000
    rows[1234] = b"1,x," + cell
    with pytest.raises(BadRequest) as err:
        codecs.decode_csv(b"\n".join(rows) + b"\n", SPEC)
    assert (err.value.row, err.value.column) == (1234, "b")
    numbers = [b"1,2,3"] * 3000
    numbers[1234] = b"1,2," + cell
    with pytest.raises(BadRequest) as err:
        codecs.decode_csv(b"\n".join(numbers) + b"\n", NUMBERS)
    assert (err.value.row, err.value.column) == (1234, "c")


def test_the_few_rows_path_reads_what_the_array_path_reads():
    rng = np.random.default_rng(4)
    for _ in range(200):
        rows = [[f"{rng.normal() * 10.0 ** rng.integers(-3, 4):.6g}", str(rng.choice(["x", "y", " x", ""])),
                 str(rng.choice(["", "1e-3", "+.5", " 7 ", f"{rng.normal():.17g}"]))] for _ in range(rng.integers(1, 5))]
        body = "\n".join(",".join(r) for r in rows).encode()
        cells = np.array(rows, dtype=object)
        try:
            careful = codecs._from_cells(cells, SPEC)
        except BadRequest as exc:
            with pytest.raises(BadRequest) as err:
                codecs.decode_csv(body, SPEC)
            assert (err.value.message, err.value.row, err.value.column) == (exc.message, exc.row, exc.column)
            continue
        few = codecs.decode_csv(body, SPEC)
        np.testing.assert_array_equal(few.numeric, careful.numeric)
        assert few.strings.tolist() == careful.strings.tolist()


def test_the_few_rows_path_refuses_as_the_array_path_does():
    for body in (b"1,x,abc\n", b"1,x,inf\n", b"\xd9\xa1,x,2\n", b",x,2\n", b"1,,2\n", b"1_0,x,2\n", b"1,x,2\x00\n"):
        cells = np.array([r.split(",") for r in body.decode().splitlines()], dtype=object)
        with pytest.raises(BadRequest) as careful:
            codecs._from_cells(cells, SPEC)
        with pytest.raises(BadRequest) as few:
            codecs.decode_csv(body, SPEC)
        assert (few.value.message, few.value.row, few.value.column) == \
            (careful.value.message, careful.value.row, careful.value.column), body
