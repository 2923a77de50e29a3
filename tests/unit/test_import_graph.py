"""No import circle among the library's modules, counting the imports made inside functions.

A circle means no module of it can be understood, tested or moved without the others. grimp (the graph
library import-linter is built on) reads every import statement, lazy ones included. Imports under
`if TYPE_CHECKING:` are left out: they never run, and the package's `__init__` uses them only to tell type
checkers what its lazily imported public names are. The contracts that import-linter can state (layers, the
sandbox never imported) are in pyproject.toml and run by `lint-imports`.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

import grimp

LIBRARY = "pipeline_steps"


def strongly_connected(edges: Mapping[str, Set[str]]) -> list[list[str]]:
    """The groups of modules that reach each other (Tarjan's algorithm, iterative), each sorted; a module
    importing itself is a group of one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(edges.get(target, ())))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in edges.get(node, ()):
                    groups.append(sorted(group))
    return sorted(groups)


def one_cycle(group: list[str], edges: Mapping[str, Set[str]]) -> list[str]:
    """A shortest path from the group's first module back to itself, through the group: what to break."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(edges.get(node, ())):
                if target == start:
                    return [*paths[node], start]
                if target in members and target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"{group} is not a cycle")


def library_imports() -> dict[str, set[str]]:
    graph = grimp.build_graph(LIBRARY, exclude_type_checking_imports=True, cache_dir=None)
    return {module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules}


def test_cycles_are_found_and_named() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"d"}}
    groups = strongly_connected(edges)
    assert groups == [["a", "b", "c"], ["e"]]
    assert one_cycle(groups[0], edges) == ["a", "b", "c", "a"]
    assert one_cycle(groups[1], edges) == ["e", "e"]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_lazy_imports_are_part_of_the_graph() -> None:
    """cli.py imports the runner inside a function; the graph must see it, or a circle could hide there."""
    assert "pipeline_steps.runner" in library_imports()["pipeline_steps.cli"]


def test_no_import_circle_in_the_library() -> None:
    edges = library_imports()
    cycles = [" -> ".join(one_cycle(group, edges)) for group in strongly_connected(edges)]
    assert not cycles, "import circles (break one import of each):\n" + "\n".join(cycles)
