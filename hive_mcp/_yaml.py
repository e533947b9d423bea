"""Reading YAML with libyaml when it is there and safe, pure Python otherwise.

PyYAML's ``CSafeLoader`` (libyaml) parses our agent files about 8x faster
than ``yaml.safe_load``, which is most of the per-agent cost of starting
``serve``. Its composer recurses on the C stack, though: a document nested
some 30,000 levels deep crashes the interpreter (a segfault, not an
exception), and up to that depth it accepts what the pure-Python loader
refuses with ``RecursionError``. Every level of nesting needs its own
indicator character (``[``, ``{``, ``-``, ``?``, ``:`` or a new line), so
their count bounds the depth: a text with few enough goes to libyaml, any
other to the pure-Python loader, whose ``RecursionError`` the callers already
turn into a clear message. A text libyaml refuses is read again by the
pure-Python loader, so errors (and their wording, with line and column) stay
those of ``yaml.safe_load``: libyaml words some differently, and refuses a
``"\\ud800"`` escape that the pure loader reads (and our checks then name).
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["load_yaml"]

# Far below the depth at which libyaml's composer exhausts an 8 MB stack
# (between 20,000 and 40,000 levels), and far above what an agent file holds
# (the shipped ones have 80-360).
_MAX_INDICATORS = 5_000
_INDICATORS = "[{-?:\n"

_FAST: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, through libyaml when that cannot crash."""
    if _FAST is not None and _indicators(text) <= _MAX_INDICATORS:
        try:
            return yaml.load(text, Loader=_FAST)
        except yaml.YAMLError:
            pass  # read again below, for the pure loader's verdict and words
    return yaml.safe_load(text)


def _indicators(text: str) -> int:
    return sum(text.count(c) for c in _INDICATORS)
