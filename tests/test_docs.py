"""The documentation: generated pages are current, every config key and table or view column is documented, and the
README is a front door that cites only what the repository holds."""

from __future__ import annotations

import re

from breastcurate.catalog.build import JOINED_VIEWS
from breastcurate.config_reference import config_keys
from breastcurate.tables import table_names, table_schema
from conftest import REPO, run_cli

DOCS = REPO / "docs"


def _sections(page: str) -> dict[str, str]:
    """The `## `name`` sections of a generated page, by name."""
    parts = re.split(r"^## `([^`]+)`.*$", (DOCS / page).read_text(), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def test_configuration_page_is_current(tmp_path):
    run_cli("config-reference", "--out", str(tmp_path / "configuration.md"))
    assert (tmp_path / "configuration.md").read_text() == (DOCS / "configuration.md").read_text()


def test_every_config_key_is_documented():
    rows = re.findall(r"^\| `([^`]+)` \|", (DOCS / "configuration.md").read_text(), flags=re.M)
    keys = [key for key, _, _ in config_keys()]
    assert len(keys) > 80 and rows == keys
    for leaf in ("n_shards", "deid.options.clean_descriptors", "datasets.<dataset>.download.files[].sha256"):
        assert leaf in rows


def test_every_table_and_view_column_is_documented():
    sections = _sections("catalog.md")
    for name in table_names():
        documented = re.findall(r"^\| `([^`]+)` \|", sections[name], flags=re.M)
        assert documented == table_schema(name).names, name
    for view in JOINED_VIEWS:
        assert re.findall(r"^\| `([^`]+)` \|", sections[view], flags=re.M), view


def test_every_column_description_names_each_dataset_it_varies_for():
    """A description that spells out two datasets' mappings of one modality spells out all of that modality's."""
    groups = {
        "MG": {"VinDr": ("VinDr",), "EMBED": ("EMBED",), "CBIS-DDSM": ("CBIS-DDSM",)},
        "MR": {"Duke": ("Duke",), "I-SPY1": ("I-SPY1", "I-SPY"), "I-SPY2": ("I-SPY2", "I-SPY")},
    }
    for name in table_names():
        for c in table_schema(name).columns:
            for datasets in groups.values():
                named = {d for d, spellings in datasets.items() if any(s in c.description for s in spellings)}
                if len(named) >= 2:
                    assert named == set(datasets), f"{name}.{c.name} leaves out {set(datasets) - named}"


def test_readme_is_a_front_door():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 155  # "at most about 150"
    assert "make demo" in readme and "make test" in readme
    assert not re.search(r"#\d+", readme), "project history (issue numbers) belongs in the tracker"
    for cited in re.findall(r"`((?:docs|config|profiles|workflow|schemas|tests|benchmarks)/[^`\s]*)`", readme):
        assert (REPO / cited).exists(), cited
    for name in re.findall(r"\b([A-Z][A-Z_]+\.md)\b", readme):
        assert (REPO / name).exists() or name == "README.md", name


def test_docs_carry_no_project_history():
    for page in [*DOCS.glob("*.md"), *DOCS.glob("dev/*.md")]:
        text = page.read_text()
        assert not re.search(r"\(#\d+\)|issue #\d+|^\| .*\| done\b", text, flags=re.M | re.I), page.name
