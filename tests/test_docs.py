"""The code in docs/ and README.md runs, what it asserts holds, and the API reference is complete."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# plain MyST pages whose ```python blocks run here; the tutorials (jupytext notebooks with
# {code-cell} blocks) are executed by the Sphinx build instead
PAGES = [ROOT / "docs" / "writing_models.md"]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import apicoverage  # noqa: E402


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


def test_api_reference_lists_every_public_name():
    missing = apicoverage.missing_names()
    assert not missing, ("public names missing from docs/reference/api/*.md (add them to an "
                         f"autosummary block): {missing}")
    assert not apicoverage.unresolved_names(), "the API pages list names that do not exist"


def test_api_coverage_check_catches_a_missing_name():
    text = apicoverage.read_sources()
    before = set(apicoverage.missing_names(text))

    def newly_missing(edited):
        return sorted(set(apicoverage.missing_names(edited)) - before)

    assert "   for_loop\n" in text and "   LIFRef\n" in text
    assert newly_missing(text.replace("   for_loop\n", "")) == [
        "brainsim.for_loop", "brainsim.transforms.for_loop"]
    assert newly_missing(text.replace("   LIFRef\n", "")) == ["brainsim.neurons.LIFRef"]
    # a module counts through its own page
    assert newly_missing(text.replace(".. automodule:: brainsim.plot\n", "")) == ["brainsim.plot"]
    assert apicoverage.unresolved_names(text + "\n.. currentmodule:: brainsim.neurons\n\n"
                                        ".. autosummary::\n\n   NoSuchNeuron\n") == [
        "brainsim.neurons.NoSuchNeuron"]


def test_every_page_is_in_a_toctree():
    docs = ROOT / "docs"
    pages = {p.relative_to(docs).with_suffix("").as_posix() for p in docs.rglob("*.md")
             if "_build" not in p.parts}
    linked = set()
    for p in docs.rglob("*.md"):
        if "_build" in p.parts:
            continue
        for block in re.findall(r"```\{toctree\}\n(.*?)```", p.read_text(), flags=re.S):
            base = p.parent.relative_to(docs)
            for line in block.splitlines():
                line = line.strip()
                if line and not line.startswith(":"):
                    linked.add((base / line).as_posix())
    assert pages - linked - {"index"} == set()


def test_tutorials_are_notebooks_with_a_figure():
    for page in sorted((ROOT / "docs" / "tutorials").glob("*.md")):
        text = page.read_text()
        assert text.startswith("---\njupytext:"), f"{page.name}: not a jupytext MyST notebook"
        assert "```{code-cell} ipython3" in text, page.name
        assert re.search(r"^fig$", text, flags=re.M), f"{page.name} shows no figure"
