"""The job summary: Markdown tables whose cells survive any text a step reports."""

from __future__ import annotations

import html
from pathlib import Path

from pipeline_steps.ci.github import markdown_cell, summary_markdown, write_summary
from pipeline_steps.report import CheckResult, RunReport, StepReport, StepStatus


def split_row(row: str) -> list[str]:
    """Cells of a GFM table row: a backslash escapes the next character, an unescaped pipe separates."""
    assert row.startswith("|") and row.endswith("|"), row
    cells, current, escaped = [], "", False
    for char in row[1:-1]:
        if escaped:
            current += "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "|":
            cells.append(current)
            current = ""
        else:
            current += char
    assert not escaped, f"row ends in a lone backslash: {row!r}"
    cells.append(current)
    return [cell.strip() for cell in cells]


def cell_text(cell: str) -> str:
    """What a reader sees in a cell: backslash escapes and entities resolved, <br> as a line break."""
    text, index = "", 0
    while index < len(cell):
        if cell[index] == "\\" and index + 1 < len(cell):
            text += cell[index + 1]
            index += 2
        else:
            text += cell[index]
            index += 1
    return html.unescape(text.replace("<br>", "\n"))


def tables(markdown: str) -> list[list[list[str]]]:
    """Every table as rows of cells, header first, the delimiter row left out."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = split_row(line)
            if not all(set(cell) <= {"-", ":"} and cell for cell in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found


def awkward_report() -> RunReport:
    return RunReport(
        app="shop",
        namespace="prod",
        strategy="blue-green",
        run_id="77",
        exit_code=3,
        outcome="rolled_back",
        steps=[
            StepReport("deploy", StepStatus.SUCCEEDED, "applied a|b <tag> & more", duration_s=2.5),
            StepReport(
                "verify-prod",
                StepStatus.ROLLED_BACK,
                "switched back\nafter a failed check",
                duration_s=4.0,
                error="curl | grep failed\\|oops",
                checks=[
                    CheckResult("home", "https://shop/", True, 1, 0.2, "200 OK"),
                    CheckResult("api | v2", "https://shop/api", False, 5, 3.1, "HTTP 500\nline two"),
                ],
            ),
            StepReport("post-clean", StepStatus.SKIPPED, "not reached"),
        ],
        facts={"active_role": "blue", "previous_role": "blue", "target_role": "green", "image": "shop:1|2"},
    )


def test_every_row_has_as_many_cells_as_its_header() -> None:
    for table in tables(summary_markdown(awkward_report())):
        width = len(table[0])
        assert all(len(row) == width for row in table), table


def test_cells_show_the_text_as_written() -> None:
    steps = next(t for t in tables(summary_markdown(awkward_report())) if t[0][0] == "Step" and t[0][1] == "Status")
    rows = {row[0]: [cell_text(cell) for cell in row] for row in steps[1:]}
    assert list(rows) == ["deploy", "verify-prod", "post-clean"]
    assert rows["deploy"][3] == "applied a|b <tag> & more"
    assert rows["verify-prod"][1].endswith("rolled-back")
    assert rows["verify-prod"][3] == "switched back\nafter a failed check\ncurl | grep failed\\|oops"
    assert rows["deploy"][2] == "2.5 s"


def test_checks_show_pass_and_fail() -> None:
    checks = next(t for t in tables(summary_markdown(awkward_report())) if "Check" in t[0])
    by_name = {cell_text(row[1]): [cell_text(cell) for cell in row] for row in checks[1:]}
    assert by_name["home"][3].endswith("pass")
    assert by_name["api | v2"][3].endswith("fail")
    assert by_name["api | v2"][5] == "HTTP 500\nline two"
    assert by_name["api | v2"][0] == "verify-prod"


def test_roles_and_images_are_listed() -> None:
    found = tables(summary_markdown(awkward_report()))
    roles = next(t for t in found if t[0] == ["Role", "Colour"])
    assert {row[0]: row[1] for row in roles[1:]} == {
        "active": "blue",
        "idle": "-",
        "previous": "blue",
        "target": "green",
    }
    images = next(t for t in found if t[0] == ["What", "Value"])
    assert cell_text(dict((row[0], row[1]) for row in images[1:])["image"]) == "shop:1|2"


def test_markdown_cell_never_leaves_a_line_break_or_bare_pipe() -> None:
    cell = markdown_cell("a|b\r\nc\rd\n")
    assert "\n" not in cell and "\r" not in cell
    assert split_row(f"|{cell}|") == [cell]
    assert cell_text(cell) == "a|b\nc\nd"


def test_write_summary_appends(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("# earlier step\n")
    write_summary(awkward_report(), path)
    write_summary(awkward_report(), path)
    text = path.read_text()
    assert text.startswith("# earlier step\n")
    assert text.count("### pipeline-steps: shop") == 2
