"""``fastprop.tabular``: the strict CSV / NPZ / NPY reader behind the command line.

Every error names the file and, where it applies, the row, the line and the
column; these tests pin the messages.
"""

import numpy as np
import pytest

from fastprop.tabular import DataError, parse_columns, read_csv, read_table


def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- CSV: shape of the file -------------------------------------------------------------------


def test_csv_header_rows_and_line_numbers(tmp_path):
    path = write(tmp_path, "a, b ,c\n1,2,3\n\n4,5,6\n")
    header, rows = read_csv(path)
    assert header == ["a", "b", "c"]
    assert rows == [(2, ["1", "2", "3"]), (4, ["4", "5", "6"])]


def test_csv_bom_and_crlf(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffx,y\r\n0.5,1\r\n0.25,0\r\n".encode())
    t = read_table(path)
    assert t.feature_names == ["x"]
    np.testing.assert_array_equal(t.X, [[0.5], [0.25]])


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        read_table(tmp_path / "nope.csv")


def test_directory(tmp_path):
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        read_table(tmp_path / "d.csv")


@pytest.mark.parametrize("text", ["", "\n\n", " , \n"])
def test_empty_file(tmp_path, text):
    with pytest.raises(DataError, match="the file is empty; expected a header row"):
        read_csv(write(tmp_path, text))


def test_header_only(tmp_path):
    with pytest.raises(DataError, match="the header is followed by no data rows"):
        read_csv(write(tmp_path, "a,b\n\n"))


def test_header_required(tmp_path):
    with pytest.raises(DataError, match="first row holds only numbers .*header row .* is required"):
        read_csv(write(tmp_path, "1,2\n3,4\n"))


def test_header_blank_name(tmp_path):
    with pytest.raises(DataError, match="column 1 of the header has no name"):
        read_csv(write(tmp_path, "a,,c\n1,2,3\n"))


def test_header_duplicate_name(tmp_path):
    with pytest.raises(DataError, match="the header names column 'a' twice"):
        read_csv(write(tmp_path, "a,b,a\n1,2,3\n"))


def test_ragged_row(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n\n4,5\n")
    msg = r"data\.csv, row 2 \(line 4\): 2 fields, but the header has 3"
    with pytest.raises(DataError, match=msg):
        read_csv(path)


def test_unparsable_quoting(tmp_path):
    path = write(tmp_path, 'a,b\n1,"2"x\n')
    with pytest.raises(DataError, match=r"line 2: cannot parse the row"):
        read_csv(path)


def test_binary_file(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"a,b\n\xff\xfe\x00\x01,2\n")
    with pytest.raises(DataError, match="not a UTF-8 text file"):
        read_csv(path)


# --- CSV: values ------------------------------------------------------------------------------


def test_non_numeric_feature_names_row_line_and_column(tmp_path):
    path = write(tmp_path, "x1,x2,y\n1,2,0\n3,abc,1\n")
    msg = r"row 2 \(line 3\): non-numeric value 'abc' in column 'x2'"
    with pytest.raises(DataError, match=msg):
        read_table(path)


def test_empty_feature_value(tmp_path):
    path = write(tmp_path, "x1,x2,y\n1,,0\n")
    with pytest.raises(DataError, match=r"row 1 \(line 2\): empty value in column 'x2'"):
        read_table(path)


@pytest.mark.parametrize("bad", ["nan", "inf", "-Infinity"])
def test_non_finite_feature_value(tmp_path, bad):
    path = write(tmp_path, f"x1,y\n1,0\n{bad},1\n")
    msg = rf"row 2 \(line 3\): value '{bad}' in column 'x1' is not a finite"
    with pytest.raises(DataError, match=msg):
        read_table(path)


def test_empty_target_value(tmp_path):
    path = write(tmp_path, "x,y\n1,a\n2, \n")
    with pytest.raises(DataError, match=r"row 2 \(line 3\): empty value in target column 'y'"):
        read_table(path)


def test_non_finite_numeric_target(tmp_path):
    path = write(tmp_path, "x,y\n1,0.5\n2,nan\n")
    with pytest.raises(DataError, match=r"row 2 \(line 3\): value 'nan' in target column 'y'"):
        read_table(path)


def test_default_target_is_last_column_integers_are_labels(tmp_path):
    t = read_table(write(tmp_path, "a,b,label\n1,2,3\n4,5,-1\n"))
    assert t.feature_names == ["a", "b"] and t.target_names == ["label"]
    assert t.target_kind == "int"
    assert t.X.dtype == np.float64 and t.X.flags.c_contiguous
    np.testing.assert_array_equal(t.X, [[1, 2], [4, 5]])
    assert t.Y.dtype == np.int64
    np.testing.assert_array_equal(t.Y, [3, -1])


def test_text_labels(tmp_path):
    t = read_table(write(tmp_path, "species,x\n setosa ,1\nvirginica,2\n"), target=["species"])
    assert t.target_kind == "str" and t.Y.dtype.kind == "U"
    assert t.Y.tolist() == ["setosa", "virginica"]
    assert t.feature_names == ["x"]


def test_fractional_targets_are_numbers_and_several_columns(tmp_path):
    t = read_table(write(tmp_path, "y1,x,y2\n0.5,1,1\n0.25,2,0\n"), target=parse_columns("y1,y2"))
    assert t.target_kind == "float" and t.target_names == ["y1", "y2"]
    np.testing.assert_array_equal(t.Y, [[0.5, 1], [0.25, 0]])
    np.testing.assert_array_equal(t.X, [[1], [2]])


def test_text_in_one_of_several_targets(tmp_path):
    path = write(tmp_path, "x,y1,y2\n1,0.5,a\n")
    with pytest.raises(DataError, match="target column 'y2' holds text; labels .* single target"):
        read_table(path, target=["y1", "y2"])


# --- choosing columns -------------------------------------------------------------------------


def test_target_by_index_and_negative_index(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n")
    assert read_table(path, target=["0"]).target_names == ["a"]
    assert read_table(path, target=["-2"]).target_names == ["b"]


def test_name_wins_over_index(tmp_path):
    path = write(tmp_path, "x,0\n1,2\n")
    assert read_table(path, target=["0"]).target_names == ["0"]


def test_unknown_column_lists_the_columns(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(DataError, match=r"unknown column 'c' in --target; columns are 'a', 'b'"):
        read_table(path, target=["c"])


def test_index_out_of_range(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")
    msg = r"column index 5 in --target is out of range for 2 columns"
    with pytest.raises(DataError, match=msg):
        read_table(path, target=["5"])


def test_column_named_twice(tmp_path):
    path = write(tmp_path, "a,b,c\n1,2,3\n")
    with pytest.raises(DataError, match="column 'c' is named twice"):
        read_table(path, target=["c", "-1"])


def test_no_features_left(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")
    with pytest.raises(DataError, match="no feature columns left"):
        read_table(path, target=["a", "b"])


@pytest.mark.parametrize("spec", ["a,", ",", "a,,b"])
def test_parse_columns_empty_item(spec):
    with pytest.raises(DataError, match="has an empty item"):
        parse_columns(spec)


def test_features_only_for_prediction(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n")
    t = read_table(path, need_target=False)
    assert t.Y is None and t.feature_names == ["a", "b"] and t.target_kind is None
    t = read_table(path, target=["b"], need_target=False)
    assert t.feature_names == ["a"] and t.target_names == ["b"]


def test_tsv(tmp_path):
    t = read_table(write(tmp_path, "a\tb\n1\t0.5\n", name="d.tsv"))
    np.testing.assert_array_equal(t.Y, [[0.5]])


def test_unknown_extension(tmp_path):
    with pytest.raises(DataError, match=r"unknown file type '\.xlsx'"):
        read_table(tmp_path / "d.xlsx")


# --- NPZ and NPY -------------------------------------------------------------------------------


def test_npz_X_Y(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.arange(6, dtype=np.int32).reshape(3, 2), Y=np.array(["a", "b", "a"]))
    t = read_table(path)
    assert t.X.dtype == np.float64 and t.target_kind == "str"
    assert t.Y.tolist() == ["a", "b", "a"]


def test_npz_names_and_kinds(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, feats=np.ones((3, 2)), lab=np.array([[1], [0], [1]], dtype=bool),
             reg=np.full((3, 2), 0.5))
    t = read_table(path, x_name="feats", y_name="lab")
    assert t.target_kind == "int" and t.Y.tolist() == [1, 0, 1]
    t = read_table(path, x_name="feats", y_name="reg")
    assert t.target_kind == "float" and t.Y.shape == (3, 2)


def test_npz_missing_array(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones((3, 2)))
    with pytest.raises(DataError, match=r"no array 'Y' \(arrays: 'X'\); choose one with --y-name"):
        read_table(path)
    assert read_table(path, need_target=False).Y is None
    with pytest.raises(DataError, match=r"no array 'F' .*--x-name"):
        read_table(path, x_name="F")


def test_npz_bad_shapes_and_values(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.ones(3), Y=np.ones(3))
    with pytest.raises(DataError, match=r"array 'X' must be 2-d .*got shape \(3,\)"):
        read_table(path)
    np.savez(path, X=np.ones((3, 2)), Y=np.ones(4))
    with pytest.raises(DataError, match="array 'Y' must be 1-d or 2-d with 3 rows"):
        read_table(path)
    np.savez(path, X=np.array([[1.0, np.nan]]), Y=np.ones(1))
    with pytest.raises(DataError, match="holds NaN or inf at row 0, column 1"):
        read_table(path)
    np.savez(path, X=np.array([["a", "b"]]), Y=np.ones(1))
    with pytest.raises(DataError, match="array 'X' must hold numbers; got dtype <U1"):
        read_table(path)


def test_npz_object_array_is_refused(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, X=np.array([[1, None]], dtype=object))
    with pytest.raises(DataError, match="cannot read its arrays"):
        read_table(path)


def test_npz_that_is_text(tmp_path):
    path = write(tmp_path, "a,b\n1,2\n", name="d.npz")
    with pytest.raises(DataError, match="not a readable NumPy array file"):
        read_table(path)


def test_npy_target_columns(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.array([[1.0, 2.0, 0.5], [3.0, 4.0, 0.25]]))
    t = read_table(path)
    np.testing.assert_array_equal(t.X, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(t.Y, [[0.5], [0.25]])
    assert t.target_kind == "float"
    t = read_table(path, target=["0", "1"])
    assert t.Y.shape == (2, 2) and t.X.shape == (2, 1)
    assert read_table(path, need_target=False).X.shape == (2, 3)


def test_npy_integer_target_is_labels(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.array([[1, 2, 0], [3, 4, 1]]))
    t = read_table(path)
    assert t.target_kind == "int" and t.Y.tolist() == [0, 1]


def test_npy_errors(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.ones((2, 2)))
    with pytest.raises(DataError, match=r"unknown column 'y' in --target; columns are '0', '1'"):
        read_table(path, target=["y"])
    np.save(path, np.ones(3))
    with pytest.raises(DataError, match="must be 2-d"):
        read_table(path)
    np.savez(tmp_path / "z.npz", X=np.ones((2, 2)))
    (tmp_path / "z.npz").rename(path)
    with pytest.raises(DataError, match=r"is a NumPy archive \(\.npz\)"):
        read_table(path)
    np.save(path, np.ones((10, 3)))
    path.write_bytes(path.read_bytes()[:150])
    with pytest.raises(DataError, match="not a readable NumPy array file"):
        read_table(path)


def test_feature_count_is_checked_before_values(tmp_path):
    # The text label column left among the features: the count is the error, not 'red'.
    path = write(tmp_path, "colour,x,y\nred,1,2\n")
    msg = r"data\.csv gives 3 feature columns but the model takes 2 inputs; name the target"
    with pytest.raises(DataError, match=msg):
        read_table(path, need_target=False, n_features=2)
    t = read_table(path, target=["colour"], need_target=False, n_features=2)
    assert t.feature_names == ["x", "y"]
    with pytest.raises(DataError, match=r"gives 1 feature columns but the model takes 2 inputs$"):
        read_table(path, target=["colour", "y"], need_target=False, n_features=2)
    npz = tmp_path / "d.npz"
    np.savez(npz, X=np.ones((2, 3)))
    with pytest.raises(DataError, match=r"d\.npz gives 3 feature columns but the model takes 4"):
        read_table(npz, need_target=False, n_features=4)
    npy = tmp_path / "d.npy"
    np.save(npy, np.ones((2, 3)))
    assert read_table(npy, need_target=False, n_features=3).X.shape == (2, 3)
