"""The YOLO reader on data.yaml files and list and label files as other tools write them, good and bad."""

import pytest
from click.testing import CliRunner
from data_layouts import write_yolo

from bcn.cli import main
from bcn.data import formats
from bcn.data.voc import read_class_names
from bcn.errors import BcnError


@pytest.fixture
def yolo_root(synth_voc, tmp_path):
    """The generated set in the Ultralytics layout, in a folder of the test's own."""
    return write_yolo(synth_voc, tmp_path / "yolo")


def names_as(root, names_yaml: str) -> None:
    """Replace data.yaml's `names` with `names_yaml` (a YAML block starting `names:`)."""
    path = root / "data.yaml"
    text = path.read_text()
    path.write_text(text[: text.index("names:")] + names_yaml)


def test_names_keyed_by_index_strings_read_as_ultralytics_reads_them(yolo_root, synth_voc):
    classes = read_class_names(synth_voc)
    names_as(yolo_root, "names:\n" + "".join(f"  '{index}': {name}\n" for index, name in enumerate(classes)))
    assert formats.read_class_names(yolo_root) == classes
    assert formats.load(yolo_root, "test")


@pytest.mark.parametrize(
    "names, reason",
    [
        ("names:\n  cat: 0\n  dog: 1\n", "'names' must map class indices 0, 1, 2, ... to names; 'cat' is no index"),
        ("names:\n  0: cat\n  '0': dog\n", "'names' must map 0, 1, 2, ... to class names"),
        ("names:\n  0: cat\n  '2': dog\n", "'names' must map 0, 1, 2, ... to class names"),
    ],
)
def test_names_keyed_otherwise_are_one_line_naming_data_yaml(yolo_root, names, reason):
    names_as(yolo_root, names)
    result = CliRunner().invoke(main, ["data", "check", str(yolo_root)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == f"Error: {yolo_root / 'data.yaml'}: {reason}"


def test_a_list_file_that_is_not_utf8_is_one_line_naming_it(yolo_root):
    listed = yolo_root / "test.txt"
    images = sorted((yolo_root / "images" / "test").iterdir())
    listed.write_bytes(b"".join(f"{path}\n".encode() for path in images) + "caf\xe9.jpg\n".encode("latin-1"))
    text = (yolo_root / "data.yaml").read_text()
    (yolo_root / "data.yaml").write_text(text.replace("test: images/test", "test: test.txt"))
    offset = sum(len(f"{path}\n".encode()) for path in images) + 3
    with pytest.raises(BcnError, match=f"^{listed}: not UTF-8 text \\(byte 0xe9 at offset {offset}\\)$"):
        formats.load(yolo_root, "test")


def test_a_label_file_that_is_not_utf8_skips_its_image_naming_it(yolo_root):
    label = sorted((yolo_root / "labels" / "test").iterdir())[0]
    label.write_bytes(label.read_bytes() + "# caf\xe9\n".encode("latin-1"))
    result = CliRunner().invoke(main, ["data", "check", str(yolo_root)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    offset = len(label.read_bytes()) - 2  # the é before the last newline
    expected = f"problem: {label}: not UTF-8 text (byte 0xe9 at offset {offset}); image {label.stem}.jpg skipped"
    assert expected in result.output.splitlines()


def test_a_data_yaml_nested_too_deeply_is_one_line_naming_it(tmp_path):
    root = tmp_path / "yolo"
    root.mkdir()
    (root / "data.yaml").write_text("names: " + "[" * 20_000 + "]" * 20_000 + "\n")
    result = CliRunner().invoke(main, ["data", "check", str(root)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1] == f"Error: {root / 'data.yaml'}: not valid YAML (nested too deeply)"
