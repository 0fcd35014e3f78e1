"""docs/backprop.md shows what docs/worked_example.py prints, and names code that exists."""

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

from fastprop import reference

DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("worked_example", DOCS / "worked_example.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def page():
    return (DOCS / "backprop.md").read_text(encoding="utf-8")


def test_page_shows_what_the_script_prints(example, page):
    blocks = example.sections()
    assert set(example.doc_blocks(page)) == set(blocks)
    stale = example.stale(page, blocks)
    assert not stale, (
        f"docs/backprop.md differs from docs/worked_example.py in {stale}; "
        "run python docs/worked_example.py --update"
    )


def test_check_and_update_modes(example, page, tmp_path, monkeypatch, capsys):
    assert example.main(["--check"]) == 0
    # A page with one number changed fails the check, and --update repairs it.
    copy = tmp_path / "backprop.md"
    copy.write_text(page.replace("0.036705", "0.036706", 1), encoding="utf-8")
    monkeypatch.setattr(example, "DOC", copy)
    assert example.main(["--check"]) == 1
    assert "differs from this script in: forward" in capsys.readouterr().err
    assert example.main(["--update"]) == 0
    assert copy.read_text(encoding="utf-8") == page


def test_every_named_function_exists(page):
    ref_names = set(re.findall(r"`reference\.(\w+)`", page))
    kernel_names = set(re.findall(r"`kernels/(\w+)\.py: (\w+)`", page))
    assert len(ref_names) >= 10 and len(kernel_names) >= 15
    missing = [name for name in ref_names if not hasattr(reference, name)]
    for module, name in kernel_names:
        if not hasattr(importlib.import_module(f"fastprop.kernels.{module}"), name):
            missing.append(f"kernels/{module}.py: {name}")
    assert not missing, f"docs/backprop.md names functions that do not exist: {missing}"
