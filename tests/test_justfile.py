"""`just --list` is the menu of the developer commands: a whole sentence for each recipe."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_each_recipe_is_listed_with_all_of_its_description() -> None:
    just = shutil.which("just", path=str(Path(sys.executable).parent)) or shutil.which("just")
    assert just, "needs just (the dev extra installs rust-just)"
    dumped = subprocess.run(
        [just, "--dump", "--dump-format", "json"], cwd=ROOT, capture_output=True, text=True
    )
    assert dumped.returncode == 0, dumped.stderr
    lines = (ROOT / "Justfile").read_text().splitlines()
    for name, recipe in json.loads(dumped.stdout)["recipes"].items():
        assert recipe["doc"], f"{name} has no description"
        if any(isinstance(a, dict) and "doc" in a for a in recipe["attributes"]):
            continue  # a [doc("...")] attribute says it all
        # just lists only the last line of the comment above a recipe: it must be all of it.
        header = next(
            i for i, line in enumerate(lines) if re.match(rf"{re.escape(name)}[\s:]", line)
        )
        assert lines[header - 1] == f"# {recipe['doc']}", name
        assert not lines[header - 2].startswith("#"), f"{name}: just lists only the last line"
