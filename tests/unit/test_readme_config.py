"""The README's config blocks document every key the settings model has, and no other
(issue 22 item 9: health_max_age was missing)."""

from __future__ import annotations

import re

from helpers.paths import ROOT
from pydantic import BaseModel

from awsfailover.config.schema import Settings


def documented() -> dict[str, set[str]]:
    """section -> keys, from every ```toml block of the README (commented keys count)."""
    text = (ROOT / "README.md").read_text()
    out: dict[str, set[str]] = {}
    for block in re.findall(r"```toml\n(.*?)```", text, re.S):
        section = ""
        for line in block.splitlines():
            head = re.match(r"^\[\[?([a-z_]+)\]\]?", line)
            if head:
                section = head.group(1)
                continue
            key = re.match(r"^#?\s?([a-z_]+)\s*=", line)
            if key:
                out.setdefault(section, set()).add(key.group(1))
    return out


def model_keys() -> dict[str, set[str]]:
    out = {"": set()}
    for name, field in Settings.model_fields.items():
        kind = field.annotation
        # list[X] (instances) and X | None (an optional section such as [arbiter]): X
        args = getattr(kind, "__args__", (kind,))
        inner = next((a for a in args if isinstance(a, type) and issubclass(a, BaseModel)), kind)
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            out[name] = set(inner.model_fields)
        else:
            out[""].add(name)
    return out


def test_every_key_is_documented_and_no_other() -> None:
    doc, model = documented(), model_keys()
    for section, keys in model.items():
        missing = keys - doc.get(section, set())
        assert not missing, f"[{section or 'top level'}] undocumented in README: {sorted(missing)}"
    for section, keys in doc.items():
        unknown = keys - model.get(section, set())
        assert not unknown, f"[{section or 'top level'}] in README but not a key: {sorted(unknown)}"
