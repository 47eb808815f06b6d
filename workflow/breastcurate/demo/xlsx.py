"""Write spreadsheets the way the data owners publish them (multi-row headers, several sheets)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from openpyxl import Workbook

from ..atomic import atomic_path


def write_sheets(path: Path, sheets: dict[str, pd.DataFrame]) -> None:
    """One plain sheet per frame (header in row 1)."""
    with atomic_path(path) as tmp:
        with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
            for name, frame in sheets.items():
                frame.to_excel(writer, sheet_name=name, index=False)


def write_multiheader(
    path: Path, sheet: str, groups: list[tuple[str, list[str]]], legend: dict[str, str], rows: list[list]
) -> None:
    """Row 1: merged group titles; row 2: column names; row 3: legend of codes; data from row 4."""
    book = Workbook()
    ws = book.active
    ws.title = sheet
    col = 1
    names: list[str] = []
    for title, columns in groups:
        ws.cell(row=1, column=col, value=title)
        if len(columns) > 1:
            ws.merge_cells(start_row=1, start_column=col, end_row=1, end_column=col + len(columns) - 1)
        names += columns
        col += len(columns)
    for j, name in enumerate(names, start=1):
        ws.cell(row=2, column=j, value=name)
        ws.cell(row=3, column=j, value=legend.get(name))
    for i, row in enumerate(rows, start=4):
        for j, value in enumerate(row, start=1):
            ws.cell(row=i, column=j, value=value)
    with atomic_path(path) as tmp:
        book.save(tmp)


def cache_formula_results(path: Path, sheet_index: int, results: dict[str, object]) -> None:
    """Store `results` (cell reference → value) as the cached results of that sheet's formula cells, as Excel does
    when it saves a workbook (openpyxl writes formulas without results). Readers that take cached values
    (pandas/openpyxl with data_only) then see what a user of the real workbook sees."""
    import re
    import zipfile

    member = f"xl/worksheets/sheet{sheet_index}.xml"
    with zipfile.ZipFile(path) as archive:
        items = [(info, archive.read(info.filename)) for info in archive.infolist()]
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for info, data in items:
                if info.filename == member:
                    text = data.decode()
                    for ref, value in results.items():
                        text = re.sub(rf'(<c r="{ref}")([^>]*>)(<f>[^<]*</f>)<v ?/>', rf"\1\2\3<v>{value}</v>", text)
                    data = text.encode()
                archive.writestr(info, data)
