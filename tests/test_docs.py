"""The code in docs/ and README.md runs, and what it asserts holds."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))


def python_blocks(path: Path) -> str:
    return "\n".join(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_doc_page_runs(page):
    code = python_blocks(page)
    assert code.strip(), f"{page.name} has no python blocks"
    exec(compile(code, str(page), "exec"), {"__name__": "docs"})


def test_custom_lif_example_runs(capsys):
    import runpy
    runpy.run_path(str(ROOT / "examples" / "custom_lif.py"), run_name="__main__")
    out = capsys.readouterr().out
    counts = [int(line.split("->")[1].split()[0]) for line in out.splitlines() if "->" in line]
    assert counts[0] == 0 and counts == sorted(counts) and counts[-1] > 50


def test_readme_example_runs():
    code = python_blocks(ROOT / "README.md")
    assert "MyLIF" in code
    env = {"__name__": "readme"}
    exec(compile(code, "README.md", "exec"), env)
    counts = env["spikes"].sum(axis=0).tolist()
    assert counts[0] == 0 and counts[1] > 10
