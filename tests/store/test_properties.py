"""Round trips of the persisted values, property-tested."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from lockstep.store import pointer as pointer_mod
from lockstep.store.pointer import Pointer
from lockstep.store.tree import Tree, TreeEntry, check_relative

hexes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
segment = st.text(
    alphabet=st.characters(blacklist_characters="/\\\0", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))
rel_paths = (
    st.lists(segment, min_size=1, max_size=4)
    .map("/".join)
    .filter(lambda p: check_relative(p) is None)
)
entries = st.builds(
    TreeEntry,
    path=rel_paths,
    digest=hexes,
    size=st.integers(0, 2**40),
    mode=st.sampled_from(["0644", "0755"]),
)


@given(st.lists(entries, max_size=30, unique_by=lambda e: e.path))
def test_tree_round_trip_and_digest(items: list[TreeEntry]) -> None:
    tree = Tree.build(items)
    again = Tree.from_bytes(tree.data, "test")
    assert again == tree
    assert tree.digest == hashlib.sha256(tree.data).hexdigest()
    assert Tree.build(reversed(items)).digest == tree.digest


@given(
    path=rel_paths,
    kind=st.sampled_from(["file", "dir"]),
    digest=hexes,
    size=st.integers(0, 2**50),
    files=st.integers(0, 10**6),
)
def test_pointer_round_trip(path: str, kind: str, digest: str, size: int, files: int) -> None:
    original = Pointer("x/y.lockstep", path, kind, digest, size, files if kind == "dir" else None)  # type: ignore[arg-type]
    assert pointer_mod.loads(original.dumps(), "x/y.lockstep") == original
