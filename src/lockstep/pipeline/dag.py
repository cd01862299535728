"""The stage graph: which stage feeds which, in what order, and how it looks.

Stage B depends on stage A when one of B's deps is one of A's outputs, or lies
inside it, or contains it. Two stages may not write the same path (or one
inside the other's), and the graph may not have a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lockstep.errors import PipelineError
from lockstep.pipeline.spec import Stage


def overlaps(a: str, b: str) -> bool:
    """True when one path is the other or lies inside it."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


@dataclass(frozen=True)
class Pipeline:
    stages: Mapping[str, Stage]
    upstream: Mapping[str, tuple[str, ...]]  # stage -> the stages it depends on

    @classmethod
    def build(cls, stages: Mapping[str, Stage]) -> Pipeline:
        writers = _writers(stages)
        upstream = {
            name: tuple(
                sorted(
                    {
                        writer
                        for dep in stage.deps
                        for out, writer in writers
                        if overlaps(dep, out) and writer != name
                    }
                )
            )
            for name, stage in stages.items()
        }
        pipeline = cls(stages, upstream)
        pipeline.order()  # fails on a cycle
        return pipeline

    @property
    def downstream(self) -> dict[str, tuple[str, ...]]:
        below: dict[str, list[str]] = {name: [] for name in self.stages}
        for name, ups in self.upstream.items():
            for up in ups:
                below[up].append(name)
        return {name: tuple(sorted(v)) for name, v in below.items()}

    def order(self, names: Iterable[str] | None = None) -> list[str]:
        """``names`` (default: all stages) in an order where each stage comes after
        the stages it depends on; file order breaks ties."""
        chosen = set(self.stages if names is None else names)
        position = {name: i for i, name in enumerate(self.stages)}
        done: list[str] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done
        for name in sorted(chosen, key=position.__getitem__):
            self._visit(name, chosen, state, done, [])
        return done

    def _visit(
        self, name: str, chosen: set[str], state: dict[str, int], done: list[str], path: list[str]
    ) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name) :], name]
            raise PipelineError(f"lockstep.yaml: stages form a cycle: {' -> '.join(cycle)}")
        state[name] = 1
        for up in self.upstream[name]:
            if up in chosen:
                self._visit(up, chosen, state, done, [*path, name])
        state[name] = 2
        done.append(name)

    def select(self, targets: Sequence[str]) -> list[str]:
        """The stages to consider for ``targets`` (default all): each target and
        everything it depends on, in running order."""
        if not targets:
            return self.order()
        unknown = [t for t in targets if t not in self.stages]
        if unknown:
            known = ", ".join(self.stages) or "none"
            raise PipelineError(f"no stage named {unknown[0]!r} in lockstep.yaml (stages: {known})")
        wanted: set[str] = set()
        todo = list(targets)
        while todo:
            name = todo.pop()
            if name not in wanted:
                wanted.add(name)
                todo.extend(self.upstream[name])
        return self.order(wanted)

    def writer_of(self, path: str) -> str | None:
        """The stage whose output is ``path`` or contains it."""
        for name, stage in self.stages.items():
            if any(overlaps(path, out) for out in stage.all_outs):
                return name
        return None


def _writers(stages: Mapping[str, Stage]) -> list[tuple[str, str]]:
    """(output path, stage) pairs; two stages writing one path is an error."""
    seen: list[tuple[str, str]] = []
    for name, stage in stages.items():
        for out in stage.all_outs:
            for other_out, other in seen:
                if overlaps(out, other_out) and other == name:
                    raise PipelineError(
                        f"lockstep.yaml: stage {name} lists overlapping outputs "
                        f"{other_out!r} and {out!r}"
                    )
                if overlaps(out, other_out):
                    what = repr(out) if out == other_out else f"{other_out!r} and {out!r}"
                    raise PipelineError(
                        f"lockstep.yaml: stages {other} and {name} both write {what}; "
                        "each output needs exactly one stage"
                    )
            seen.append((out, name))
    return seen


# --- rendering -------------------------------------------------------------------------


def render_text(pipeline: Pipeline) -> str:
    """Stages in running order, each with the stages it needs."""
    lines = []
    for name in pipeline.order():
        ups = pipeline.upstream[name]
        stage = pipeline.stages[name]
        needs = f"  <- {', '.join(ups)}" if ups else ""
        lines.append(f"{name}{needs}")
        lines.append(f"    $ {stage.command}")
    return "\n".join(lines)


def render_dot(pipeline: Pipeline) -> str:
    lines = ["digraph pipeline {", "  rankdir=LR;", "  node [shape=box];"]
    lines += [f'  "{name}";' for name in pipeline.order()]
    for name in pipeline.order():
        lines += [f'  "{up}" -> "{name}";' for up in pipeline.upstream[name]]
    lines.append("}")
    return "\n".join(lines)


def render_mermaid(pipeline: Pipeline) -> str:
    ids = {name: f"s{i}" for i, name in enumerate(pipeline.order())}
    lines = ["flowchart LR"]
    lines += [f'  {ids[name]}["{name}"]' for name in pipeline.order()]
    for name in pipeline.order():
        lines += [f"  {ids[up]} --> {ids[name]}" for up in pipeline.upstream[name]]
    return "\n".join(lines)
