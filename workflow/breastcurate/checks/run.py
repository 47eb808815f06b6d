"""Run every data check once per pipeline run with Great Expectations and write the Data Docs.

Suites come from two places: `schemas/tables/*.yaml` (columns, nullability, allowed values, ranges, uniqueness)
and the semantic checks in `semantic.py` (each a table of violating rows that must be empty). A failure stops the
run with a summary naming the table or check, the expectation and example rows.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from ..atomic import make_dirs, publish_tree, write_bytes
from ..errors import BreastcurateError
from ..layout import Layout, Scope
from ..tables import table_names, table_schema
from .semantic import CheckOptions, Evidence, load_tables, semantic_checks

EXAMPLES = 3
ASSETS = Path(__file__).parent / "datadocs_assets"
# Data Docs load these from CDNs; the checks stage serves local copies instead (datadocs_assets/README.md).
CDN_ASSETS = {
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": "bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": "bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": "bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": "bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": "bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": "bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": "bootstrap-datepicker.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": "fontawesome/css/all.min.css",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": "bootstrap-prefers-dark.css",
}
LOCAL_LOAD = re.compile(r'((?:<script|<img)[^>]*\ssrc="|<link[^>]*\shref=")([^"#?]+)"')
REMOTE_LOAD = re.compile(r'(<script[^>]*\ssrc|<link[^>]*\shref|<img[^>]*\ssrc)="https?://[^"]*"')


class ChecksFailed(BreastcurateError):
    """At least one expectation failed; the message is the summary."""


def schema_expectations(name: str) -> list:
    """Expectations that `schemas/tables/<name>.yaml` implies."""
    import great_expectations as gx

    schema = table_schema(name)
    out: list = [gx.expectations.ExpectTableColumnsToMatchOrderedList(column_list=schema.names)]
    for c in schema.columns:
        if not c.nullable:
            out.append(gx.expectations.ExpectColumnValuesToNotBeNull(column=c.name))
        if c.allowed:
            out.append(gx.expectations.ExpectColumnValuesToBeInSet(column=c.name, value_set=list(c.allowed)))
        if c.min is not None or c.max is not None:
            out.append(gx.expectations.ExpectColumnValuesToBeBetween(column=c.name, min_value=c.min, max_value=c.max))
    if len(schema.unique) == 1:
        out.append(gx.expectations.ExpectColumnValuesToBeUnique(column=schema.unique[0]))
    elif schema.unique:
        out.append(gx.expectations.ExpectCompoundColumnsToBeUnique(column_list=list(schema.unique)))
    return out


def _context(folder: Path):
    """A file-backed Great Expectations project under `folder` (in its `gx/` folder) and a pandas source."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    make_dirs(folder)
    context = gx.get_context(mode="file", project_root_dir=str(folder))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # they would flood the log
    return context, context.data_sources.add_or_update_pandas("catalog")


def _validate(context, source, name: str, expectations: list, frame: pd.DataFrame):
    import great_expectations as gx

    try:
        asset = source.get_asset(name)
    except LookupError:
        asset = source.add_dataframe_asset(name=name)
    try:
        batch = asset.get_batch_definition("all")
    except KeyError:
        batch = asset.add_batch_definition_whole_dataframe("all")
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=name, expectations=expectations))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )
    return definition.run(batch_parameters={"dataframe": frame}, result_format="SUMMARY")


def _relink(match: re.Match, site: Path, folder: Path) -> str:
    """A local reference that does not resolve from its page (GX writes the site's depth, not the page's, into
    pages of validation runs) pointed at the file of that name under the site's root, when there is one."""
    ref = match.group(2)
    if (folder / ref).exists() or re.match(r"[a-z]+:", ref):
        return match.group(0)
    target = site / re.sub(r"^(\.\.?/)+", "", ref)
    return match.group(1) + os.path.relpath(target, folder) + '"' if target.exists() else match.group(0)


def localize_data_docs(site: Path) -> None:
    """Serve the Data Docs' scripts, styles and fonts from local copies, so they render without internet."""
    vendor = site / "static" / "vendor"
    shutil.copytree(ASSETS, vendor, dirs_exist_ok=True)
    for page in site.rglob("*.html"):
        prefix = os.path.relpath(vendor, page.parent)
        html = page.read_text()
        for url, local in CDN_ASSETS.items():
            html = html.replace(f'"{url}"', f'"{prefix}/{local}"')
        html = re.sub(
            r'<img[^>]*\ssrc="https?://[^"]*"[^>]*>', "", html
        )  # the GX logo: no image rather than a broken one
        # CDN integrity/CORS attributes make browsers refuse local files
        html = re.sub(r'\s(integrity|crossorigin)(="[^"]*")?(?=[\s>/])', "", html)
        html = LOCAL_LOAD.sub(functools.partial(_relink, site=site, folder=page.parent), html)
        remaining = REMOTE_LOAD.search(html)
        if remaining:
            raise RuntimeError(f"{page}: Data Docs load {remaining.group(0)!r}, which has no local copy")
        page.write_text(html)


def _examples(value) -> str:
    return json.dumps(value[:EXAMPLES], default=str) if isinstance(value, list) else json.dumps(value, default=str)


def run_checks(results: Path, scope: Scope, options: CheckOptions, evidence: Evidence) -> dict:
    """Validate every table and semantic check over the tables of `scope`; write Data Docs and the summary (its
    verdict in `passed`: the `checks-gate` step fails the run on it, so that a failed run keeps the details)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    results = Path(results)
    layout = Layout(results)
    context, source = _context(layout.data_docs.parent)  # Great Expectations keeps its project in <root>/gx
    tables = load_tables(layout, scope)
    summary: dict[str, Any] = {"passed": True, "validations": [], "failures": []}
    for name in table_names():
        result = _validate(
            context, source, f"table_{name}", schema_expectations(name), tables[name].reset_index(drop=True)
        )
        _collect(summary, f"table {name}", result, None)
    for check, (description, violations) in semantic_checks(layout, scope, tables, options, evidence).items():
        import great_expectations as gx

        frame = violations().reset_index(drop=True)
        expectation = gx.expectations.ExpectTableRowCountToEqual(value=0, description=description)
        result = _validate(context, source, f"check_{check}", [expectation], frame)
        _collect(summary, f"check {check} ({description})", result, frame)
    context.build_data_docs()
    site = layout.data_docs / "uncommitted" / "data_docs" / "local_site"
    localize_data_docs(site)
    publish_tree(layout.data_docs)  # Great Expectations wrote it under the pipeline's private umask
    summary["data_docs"] = (site / "index.html").relative_to(results).as_posix()
    write_bytes(layout.checks_summary, json.dumps(summary, indent=2, sort_keys=True, default=str).encode())
    return summary


def gate(results: Path) -> int:
    """Write the pass mark if every check of the results' summary passed (return the validations); else raise
    ChecksFailed with one line per failure: the check, the datasets, the count, and where the details are."""
    layout = Layout(results)
    summary = json.loads(layout.checks_summary.read_text())
    if not summary["passed"]:
        raise ChecksFailed(failure_lines(results))
    write_bytes(
        layout.checks_passed,
        json.dumps({"passed": True, "validations": len(summary["validations"])}, indent=2).encode(),
    )
    return len(summary["validations"])


def failure_lines(results: Path) -> str:
    """The console's account of the results' failed checks: one line each, then where the details are ("" when
    every check passed or none ran)."""
    layout = Layout(results)
    if not layout.checks_summary.is_file():
        return ""
    summary = json.loads(layout.checks_summary.read_text())
    if summary["passed"]:
        return ""
    lines = [f"{len(summary['failures'])} data check(s) failed:"]
    for f in summary["failures"]:
        datasets = ", ".join(f.get("datasets") or []) or "all datasets"
        lines.append(f"- {f['where'].split(' (')[0]}: {datasets}: {f.get('count', '?')} failing row(s)")
    lines.append(f"details: {layout.checks_summary} and the Data Docs at {Path(results) / summary['data_docs']}")
    return "\n".join(lines)


def _collect(summary: dict, label: str, result, violations: pd.DataFrame | None) -> None:
    failed = [r for r in result.results if not r.success]
    summary["validations"].append({"name": label, "expectations": len(result.results), "failed": len(failed)})
    for r in failed:
        examples = (
            violations.head(EXAMPLES).to_dict("records")
            if violations is not None
            else r.result.get("partial_unexpected_list", r.result.get("observed_value"))
        )
        kwargs = {k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"}
        if violations is not None:
            count = len(violations)
            datasets = sorted(map(str, violations.dataset.dropna().unique())) if "dataset" in violations else []
        else:
            count = int(r.result.get("unexpected_count") or 1)
            datasets = []
        summary["failures"].append(
            {
                "where": label,
                "expectation": r.expectation_config.type,
                "kwargs": kwargs,
                "examples": examples,
                "count": count,
                "datasets": datasets,
            }
        )
        summary["passed"] = False


def failure_text(summary: dict) -> str:
    lines = [f"{len(summary['failures'])} data check(s) failed:"]
    for f in summary["failures"]:
        lines.append(
            f"- {f['where']}: {f['expectation']} {json.dumps(f['kwargs'], default=str)}; "
            f"examples: {_examples(f['examples'])}"
        )
    lines.append(f"Data Docs: {summary['data_docs']}")
    return "\n".join(lines)


def reject_counts(results: Path, datasets: list[str], shards: list[int]) -> str:
    """Rejected items per dataset and stage, from the rejects table parts the run has written so far."""
    layout = Layout(results)
    parts = [
        p
        for d in datasets
        for k in shards
        for p in (layout.table_part("rejects", d, k), layout.radiomics_rejects(d, k))
        if p.is_file()
    ]
    frames = [pd.read_parquet(p, columns=["dataset", "stage"]) for p in parts]
    counts = pd.concat(frames).value_counts(["dataset", "stage"]).sort_index() if frames else pd.Series()
    lines = [f"rejects per dataset and stage ({len(parts)} table parts read):"]
    lines += [f"  {d:<12} {stage:<10} {n:>8}" for (d, stage), n in counts.items()]
    return "\n".join(lines if len(counts) else [lines[0], "  none"])
