"""`make lint`: no runtime module over 400 lines, no class over 200 (the local endpoint in
awsfailover/sim is a development tool and is not held to it). Prints each offender; exit 1."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_MODULE = 400
MAX_CLASS = 200


def main() -> int:
    root = Path(__file__).resolve().parent.parent / "awsfailover"
    bad = []
    for f in sorted(root.rglob("*.py")):
        if "sim" in f.relative_to(root).parts:
            continue
        text = f.read_text()
        lines = text.count("\n")
        name = f.relative_to(root.parent)
        if lines > MAX_MODULE:
            bad.append(f"{name}: {lines} lines (limit {MAX_MODULE})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_CLASS:
                    bad.append(f"{name}: class {node.name} {size} lines (limit {MAX_CLASS})")
    for line in bad:
        print(line, file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
