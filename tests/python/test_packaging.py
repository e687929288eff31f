"""The installed package's metadata (issue 17, item 1, the part done): an MIT license
expression with its LICENSE file, the README as description, classifiers, and the CPython
version the build is for."""
from __future__ import annotations

import importlib.metadata as md
from pathlib import Path

import pytest

ember = pytest.importorskip("ember")


def test_metadata_is_complete():
    meta = md.metadata("ember")
    assert meta["License-Expression"] == "MIT"
    assert "LICENSE" in (meta.get_all("License-File") or [])
    assert meta["Description-Content-Type"] == "text/markdown"
    assert meta["Requires-Python"] == "==3.13.*"
    classifiers = meta.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.13" in classifiers
    assert "Programming Language :: Python :: Implementation :: CPython" in classifiers
    files = [str(f) for f in md.files("ember") or []]
    assert any(f.endswith("LICENSE") for f in files), files


def test_license_file_is_mit():
    text = (Path(__file__).resolve().parents[2] / "LICENSE").read_text()
    assert text.startswith("MIT License")


def test_build_records_its_cpython_version():
    assert ember.built_for.startswith("3.13.")
