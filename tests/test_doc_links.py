"""Every pointer in the README files and docs resolves: relative links and their section anchors, file
paths written in backticks, and "docs/X.md section N" references. External links are not fetched."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted({ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("results/README.md"),
               *ROOT.glob("params/**/README.md"), *ROOT.glob("benchmarks/README.md")})

FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
# a path in backticks that starts at a top-level folder of the repository is a pointer (`inputs/scenario.toml`
# of a result folder or `kernels/stats.py` of the package are not)
TICKED_PATH = re.compile(r"`((?:docs|params|notebooks|scripts|tests|benchmarks|shockmodel|results)/[\w./-]*"
                         r"\.(?:md|toml|py|npz|ipynb|json|csv|txt|html))`")
SECTION_REF = re.compile(r"`?(docs/[\w-]+\.md)`?,? section (\d+)")
README_SECTION = re.compile(r"(?:project\s+)?README(?:\.md)?`?,?\s+\"([^\"]+)\"")   # the project README, "Results"


def _prose(path: Path) -> str:
    return FENCE.sub("", path.read_text(encoding="utf-8"))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (but - and _), spaces -> -."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    out, seen = set(), {}
    for line in _prose(path).splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            n = seen.get(base, 0)
            out.add(base if n == 0 else f"{base}-{n}")
            seen[base] = n + 1
    return out


def _target(doc: Path, ref: str) -> Path | None:
    for base in (doc.parent, ROOT):
        p = (base / ref).resolve()
        if p.exists():
            return p
    return None


def _problems(doc: Path) -> list[str]:
    text = _prose(doc)
    bad = []
    for ref in LINK.findall(text) + IMAGE.findall(text):
        if re.match(r"[a-z]+:", ref):        # http:, https:, mailto:
            continue
        file, _, anchor = ref.partition("#")
        target = doc if not file else (doc.parent / file).resolve()
        if not target.exists():
            bad.append(f"link to missing {file}")
        elif anchor and target.suffix == ".md" and anchor not in anchors(target):
            bad.append(f"link to missing section #{anchor} of {target.name}")
    for ref in TICKED_PATH.findall(text):
        if _target(doc, ref) is None:
            bad.append(f"path `{ref}` does not exist")
    for title in README_SECTION.findall(LINK.sub("", text)):
        if slug(title) not in anchors(ROOT / "README.md"):
            bad.append(f'README.md has no section "{title}"')
    for file, number in SECTION_REF.findall(text):
        target = ROOT / file
        heads = [a for a in anchors(target)] if target.exists() else []
        if not any(h.startswith(f"{number}-") for h in heads):
            bad.append(f"{file} has no section {number}")
    return bad


def test_docs_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in DOCS}
    assert {"README.md", "docs/contracts.md", "docs/scenarios.md", "results/README.md"} <= names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_pointers_resolve(doc):
    assert _problems(doc) == []


def test_the_checker_catches_broken_pointers(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("# Title\n\n[a](#nowhere) [b](missing.md) `docs/none.md` [c](#title) docs/contracts.md section 9\n"
                   'see the project README, "Result layout"\n')
    problems = _problems(doc)
    assert any("#nowhere" in p for p in problems) and any("missing.md" in p for p in problems)
    assert any("docs/none.md" in p for p in problems) and any("section 9" in p for p in problems)
    assert any('"Result layout"' in p for p in problems) and not any("#title" in p for p in problems)
