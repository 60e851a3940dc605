"""How many bytes an object holds, everything it reaches included: for a per-meter breakdown.

``sys.getsizeof`` counts one object; this walks what it references (``gc.get_referents``),
each object once across calls that share ``seen`` (what two meters share is counted for the
first). Classes, modules, functions and code are the program's, not the meter's: not walked.
A numpy array counts its buffer when it owns it (its ``__sizeof__`` does), and a view what it
keeps alive (its ``base``). A fitted
scikit-learn tree keeps its nodes and values in C memory that Python does not see; they are
added from the tree's own views of them (the stride of ``children_left`` is one node's size,
``value``'s one node's values), which is what RSS pays.
"""

from __future__ import annotations

import gc
import sys
import types
from typing import Any

import numpy as np
from sklearn.tree._tree import Tree

#: Shared by the program, not held by any one meter.
_PROGRAM = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.CodeType, types.MethodType)


def held_bytes(obj: Any, seen: set[int]) -> int:
    """Bytes ``obj`` and everything it reaches hold, leaving out what ``seen`` already counted."""
    total = 0
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, _PROGRAM):
            continue
        seen.add(id(item))
        total += sys.getsizeof(item)
        if isinstance(item, Tree):
            total += item.capacity * (item.children_left.strides[0] + item.value.strides[0])
        if isinstance(item, np.ndarray) and item.base is not None:
            stack.append(item.base)  # a view (an unpickled array's is the pickle's buffer): what it keeps alive
        stack.extend(gc.get_referents(item))
    return total
