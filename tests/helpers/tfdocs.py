"""Render terraform/README.md's inputs and outputs tables from variables.tf and outputs.tf.

`python tests/helpers/tfdocs.py` rewrites the README between its markers; tests/test_terraform.py
fails when the README is stale. (terraform-docs is the usual tool; it is not on this machine,
and our files are `terraform fmt` output, which this small block scanner reads reliably.)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MODULE = Path(__file__).resolve().parents[2] / "terraform"
BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"


def blocks(text: str, kind: str) -> list[tuple[str, str]]:
    out = []
    for m in re.finditer(rf'^{kind} "([^"]+)" \{{\n', text, re.M):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out.append((m.group(1), text[m.end() : i - 1]))
    return out


def attr(body: str, name: str) -> str | None:
    """A top-level attribute's expression (indent 2), up to the next top-level line."""
    lines = body.split("\n")
    for i, line in enumerate(lines):
        m = re.match(rf"^  {name}\s*=\s*(.*)$", line)
        if not m:
            continue
        expr = [m.group(1)]
        if m.group(1).startswith("<<-EOT"):
            j = i + 1
            text = []
            while lines[j].strip() != "EOT":
                text.append(lines[j].strip())
                j += 1
            return " ".join(text)
        j = i + 1
        while j < len(lines) and (
            lines[j].startswith("    ") or lines[j].strip() in (")", "})", "}))", "]")
        ):
            expr.append(lines[j].strip())
            j += 1
        return " ".join(expr)
    return None


def unquote(v: str | None) -> str:
    if v is None:
        return ""
    return v[1:-1] if v.startswith('"') and v.endswith('"') else v


def render() -> str:
    rows = ["## Inputs", "", "| name | description | type | default |", "| --- | --- | --- | --- |"]
    for name, body in blocks((MODULE / "variables.tf").read_text(), "variable"):
        default = attr(body, "default")
        rows.append(
            f"| `{name}` | {unquote(attr(body, 'description'))} | "
            f"`{re.sub(r'[ ]+', ' ', attr(body, 'type') or '')}` | "
            + (f"`{default}`" if default is not None else "required")
            + " |"
        )
    rows += ["", "## Outputs", "", "| name | description |", "| --- | --- |"]
    for name, body in blocks((MODULE / "outputs.tf").read_text(), "output"):
        rows.append(f"| `{name}` | {unquote(attr(body, 'description'))} |")
    return "\n".join(rows).replace("|`", "| `")


def updated(readme: str) -> str:
    head, rest = readme.split(BEGIN, 1)
    _old, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{render()}\n{END}{tail}"


if __name__ == "__main__":
    path = MODULE / "README.md"
    path.write_text(updated(path.read_text()))
    sys.exit(0)
