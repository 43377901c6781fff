"""Mutation testing for the core's small modules: one small change at a time, its tests run.

    python tests/tooling/mutate.py                     # limits access commands voice secrets
    python tests/tooling/mutate.py voice --show        # list every mutant, killed or not
    python tests/tooling/mutate.py sessions --sample 40 --seed 1
    python tests/tooling/mutate.py --fail-under 90     # exit 1 below 90 % over the modules run
    python tests/tooling/mutate.py voice --tests tests/test_turn.py   # other test files

Each mutant changes one thing in one module — a flipped comparison, ``and``/``or``
swapped, a changed constant, a negated condition, an arithmetic operator swapped,
``max``/``min`` swapped, a statement removed — and the module's own test files run
against it (``pytest -x``, with a timeout of three times the unmutated run; a mutant
that times out is run once more with twice that, and counts as killed, shown apart,
if it times out again).

The working tree is never modified: every worker builds a private copy of the
package and of the test files in a temporary directory, writes the mutated module
there and runs pytest with that directory as its working directory, so the copy is
what ``import nanobot_core`` finds. The copies are removed however the run ends
(Ctrl+C included), and any pytest still running is killed.

A mutant's id is ``module:scope:operator:before -> after`` (``#2`` when the same
change occurs twice in one scope). It names the enclosing function instead of a line
number, so it survives edits elsewhere in the file. Mutants that cannot change
behaviour are listed with a one-line reason in ``equivalent_mutants.toml`` beside
this file; they are shown and excluded from the kill rate.
"""

from __future__ import annotations

import argparse
import ast
import concurrent.futures
import contextlib
import copy
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "nanobot_core"
EQUIVALENTS = Path(__file__).with_name("equivalent_mutants.toml")

# module -> the test files that target it
TARGETS: dict[str, tuple[str, ...]] = {
    "limits": ("tests/test_limits.py",),
    "access": ("tests/test_access.py",),
    "commands": ("tests/test_commands.py", "tests/test_chat_commands.py"),
    "voice": ("tests/test_voice.py",),
    "secrets": ("tests/test_secrets.py", "tests/test_secrets_files.py"),
    "sessions": ("tests/test_sessions.py", "tests/test_sessions_edges.py"),
}
CORE = ("limits", "access", "commands", "voice", "secrets")

# files the test run needs besides the package and the test files themselves
SUPPORT = ("pyproject.toml", "conftest.py", "tests/conftest.py")

_CMP_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_BIN_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.Div,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div,
    ast.Mod: ast.Mult,
}
_CALL_SWAPS = {"max": "min", "min": "max", "ceil": "floor", "floor": "ceil", "any": "all"}
# what a changed number is described by (its nearest enclosing one of these)
_CONTEXTS = (ast.Call, ast.Compare, ast.BinOp, ast.Subscript, ast.keyword, ast.stmt, ast.Dict)
_REMOVABLE = (
    ast.Expr,
    ast.Assign,
    ast.AugAssign,
    ast.AnnAssign,
    ast.Return,
    ast.Raise,
    ast.Delete,
    ast.Break,
    ast.Continue,
)


def module_path(module: str) -> Path:
    """Where ``module`` lives, relative to the repository: ``nanobot_core/voice.py``, or the
    one ``voice.py`` in a subpackage once it moves (ids and equivalents keep the short name).
    """
    direct = Path(PACKAGE) / f"{module}.py"
    if (ROOT / direct).exists():
        return direct
    found = sorted((ROOT / PACKAGE).rglob(f"{module}.py"))
    if len(found) != 1:
        raise SystemExit(f"error: expected one {module}.py under {PACKAGE}/, found {len(found)}")
    return found[0].relative_to(ROOT)


# --- mutants ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    id: str
    module: str
    line: int
    source: str  # the whole mutated module


@dataclass(frozen=True)
class _Site:
    index: int  # position of the node in ast.walk order
    operator: str
    scope: str
    line: int
    extra: object = None  # which comparison operator, for chained comparisons


def _short(node: ast.AST, limit: int = 60) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Sites(ast.NodeVisitor):
    """Every place one mutation operator applies, skipping what never runs as code."""

    def __init__(self, tree: ast.Module) -> None:
        self.index = {id(node): i for i, node in enumerate(ast.walk(tree))}
        self.sites: list[_Site] = []
        self.scope: list[str] = []
        self.skip: set[int] = set()  # nodes (by id) not to descend into
        self._mark_skipped(tree)
        self.visit(tree)

    def _mark_skipped(self, tree: ast.Module) -> None:
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                assert isinstance(body, list)
                first = body[0] if body else None
                if (
                    isinstance(first, ast.Expr)
                    and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)
                ):
                    self.skip.add(id(first))  # a docstring
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs):
                    if arg.annotation is not None:
                        self.skip.add(id(arg.annotation))
                for star in (node.args.vararg, node.args.kwarg):
                    if star is not None and star.annotation is not None:
                        self.skip.add(id(star.annotation))
                if node.returns is not None:
                    self.skip.add(id(node.returns))
            if isinstance(node, ast.AnnAssign):
                self.skip.add(id(node.annotation))
            if isinstance(node, ast.Import | ast.ImportFrom):
                self.skip.add(id(node))
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
            ):
                self.skip.add(id(node))  # only `from module import *` reads it
            if isinstance(node, ast.Assign | ast.AnnAssign):
                # module-level type aliases such as `Clock = Callable[[], float]`
                value = node.value
                if isinstance(value, ast.Subscript) and node in tree.body:
                    self.skip.add(id(node))
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                self.skip.add(id(node))
            if isinstance(node, ast.FormattedValue) and node.format_spec is not None:
                self.skip.add(id(node.format_spec))

    def _add(self, node: ast.AST, operator: str, extra: object = None) -> None:
        self.sites.append(
            _Site(
                index=self.index[id(node)],
                operator=operator,
                scope=".".join(self.scope) or "<module>",
                line=getattr(node, "lineno", 0),
                extra=extra,
            )
        )

    def visit(self, node: ast.AST) -> None:
        if id(node) not in self.skip:
            super().visit(node)

    def _scoped(self, node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        # decorators and defaults belong to the enclosing scope
        for decorator in node.decorator_list:
            self.visit(decorator)
        if not isinstance(node, ast.ClassDef):
            for default in (*node.args.defaults, *node.args.kw_defaults):
                if default is not None:
                    self.visit(default)
        self.scope.append(node.name)
        for statement in node.body:
            self._statement(statement)
        self.scope.pop()

    visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _scoped

    def _statement(self, statement: ast.stmt) -> None:
        if id(statement) in self.skip:
            return
        if isinstance(statement, _REMOVABLE):
            self._add(statement, "remove")
        self.visit(statement)

    def visit_Module(self, node: ast.Module) -> None:
        for statement in node.body:
            self._statement(statement)

    def _bodies(self, node: ast.AST) -> None:
        for name, value in ast.iter_fields(node):
            if name in ("body", "orelse", "finalbody") and isinstance(value, list):
                for statement in value:
                    self._statement(statement)
            elif name == "handlers":
                for handler in value:
                    if handler.type is not None:
                        self.visit(handler.type)
                    for statement in handler.body:
                        self._statement(statement)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        self.visit(item)
            elif isinstance(value, ast.AST):
                self.visit(value)

    def visit_If(self, node: ast.If) -> None:
        self._negatable(node.test)
        self._bodies(node)

    def visit_While(self, node: ast.While) -> None:
        self._negatable(node.test)
        self._bodies(node)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self._bodies(node)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        self._bodies(node)

    visit_AsyncWith = visit_With

    def visit_Try(self, node: ast.Try) -> None:
        self._bodies(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._negatable(node.test)
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        for condition in node.ifs:
            self._negatable(condition)
        self.generic_visit(node)

    def _negatable(self, test: ast.expr) -> None:
        # comparisons are flipped and `not` removed by their own operators
        if not isinstance(test, ast.Compare) and not (
            isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
        ):
            self._add(test, "negate")

    def visit_Compare(self, node: ast.Compare) -> None:
        for i, op in enumerate(node.ops):
            if type(op) in _CMP_SWAPS:
                self._add(node, "cmp", extra=i)
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        self._add(node, "boolop")
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not | ast.USub):
            self._add(node, "unary")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if type(node.op) in _BIN_SWAPS:
            self._add(node, "binop")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if type(node.op) in _BIN_SWAPS:
            self._add(node, "binop")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node.func)
        if name in _CALL_SWAPS:
            self._add(node, "call")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, bool | int | float | str):
            self._add(node, "const")


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _mutated_constant(value: str | int | float) -> str | int | float:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.0
    assert isinstance(value, str)
    return f"XX{value}XX"


def _apply(tree: ast.Module, site: _Site) -> tuple[str, str]:
    """Apply ``site`` to ``tree`` (a copy) in place; return (before, after) descriptions."""
    nodes = list(ast.walk(tree))
    node = nodes[site.index]
    if site.operator == "remove":
        parents = {id(child): parent for parent in nodes for child in ast.iter_child_nodes(parent)}
        _replace([parents[id(node)]], node, ast.Pass())
        return _short(node), "pass"
    before = _short(node)
    if site.operator == "cmp":
        assert isinstance(node, ast.Compare) and isinstance(site.extra, int)
        op = node.ops[site.extra]
        node.ops[site.extra] = _CMP_SWAPS[type(op)]()
    elif site.operator == "boolop":
        assert isinstance(node, ast.BoolOp)
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif site.operator == "unary":
        assert isinstance(node, ast.UnaryOp)
        # replace the node's content by its operand's (drops the `not` / the minus)
        operand = node.operand
        _replace(nodes, node, operand)
        return before, _short(operand)
    elif site.operator == "negate":
        assert isinstance(node, ast.expr)
        negated = ast.UnaryOp(op=ast.Not(), operand=copy.deepcopy(node))
        _replace(nodes, node, negated)
        return before, _short(negated)
    elif site.operator == "binop":
        assert isinstance(node, ast.BinOp | ast.AugAssign)
        node.op = _BIN_SWAPS[type(node.op)]()
    elif site.operator == "call":
        assert isinstance(node, ast.Call)
        func = node.func
        if isinstance(func, ast.Name):
            func.id = _CALL_SWAPS[func.id]
        else:
            assert isinstance(func, ast.Attribute)
            func.attr = _CALL_SWAPS[func.attr]
    elif site.operator == "const":
        assert isinstance(node, ast.Constant)
        assert isinstance(node.value, str | int | float)
        if isinstance(node.value, str):
            node.value = _mutated_constant(node.value)
        else:  # a number alone says little: name it by the expression around it
            parents = {id(c): parent for parent in nodes for c in ast.iter_child_nodes(parent)}
            context: ast.AST = node
            while not isinstance(context, _CONTEXTS) and id(context) in parents:
                context = parents[id(context)]
            before = _short(context)
            node.value = _mutated_constant(node.value)
            return before, _short(context)
    else:  # pragma: no cover - every operator is handled above
        raise AssertionError(site.operator)
    return before, _short(node)


def _replace(nodes: list[ast.AST], old: ast.AST, new: ast.AST) -> None:
    for parent in nodes:
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new
                        return
    raise AssertionError("node has no parent")


def mutants(module: str) -> list[Mutant]:
    path = ROOT / module_path(module)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    original = ast.unparse(tree)
    found: list[Mutant] = []
    seen_ids: dict[str, int] = {}
    seen_sources = {original}
    for site in _Sites(tree).sites:
        mutated = copy.deepcopy(tree)
        before, after = _apply(mutated, site)
        source = ast.unparse(ast.fix_missing_locations(mutated))
        if source in seen_sources:
            continue  # the same program as the original or as another mutant
        seen_sources.add(source)
        base = f"{module}:{site.scope}:{site.operator}:{before} -> {after}"
        seen_ids[base] = seen_ids.get(base, 0) + 1
        mutant_id = base if seen_ids[base] == 1 else f"{base} #{seen_ids[base]}"
        found.append(Mutant(id=mutant_id, module=module, line=site.line, source=source))
    return found


# --- running ---------------------------------------------------------------------------


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed | survived | timeout | equivalent
    seconds: float = 0.0
    reason: str = ""


@dataclass
class _Runner:
    """Runs pytest in private copies of the tree, one per worker; removes them at the end."""

    timeout: float
    pytest_args: tuple[str, ...]
    tests: tuple[str, ...] | None = None  # instead of each module's own test files
    _local: threading.local = field(default_factory=threading.local)
    _dirs: list[tempfile.TemporaryDirectory[str]] = field(default_factory=list)
    _running: set[subprocess.Popen[bytes]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: bool = False

    def tree(self) -> Path:
        tree: Path | None = getattr(self._local, "tree", None)
        if tree is None:
            holder = tempfile.TemporaryDirectory(prefix="nanobot-mutation-")
            with self._lock:
                self._dirs.append(holder)
            tree = Path(holder.name)
            shutil.copytree(
                ROOT / PACKAGE,
                tree / PACKAGE,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
            for name in SUPPORT:
                if (ROOT / name).exists():
                    (tree / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / name, tree / name)
            for name in {name for m in TARGETS for name in self.tests_of(m)}:
                if (ROOT / name).exists():
                    (tree / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(ROOT / name, tree / name)
            self._local.tree = tree
        return tree

    def tests_of(self, module: str) -> tuple[str, ...]:
        return self.tests or TARGETS[module]

    def run_mutant(self, module: str, source: str) -> tuple[int | None, float]:
        """Exit code (None: timed out twice) and seconds; a slow machine gets a second chance."""
        code, seconds, _ = self.run(module, source)
        if code is None:  # a loaded machine, or a real hang: try once more with twice the time
            code, seconds, _ = self.run(module, source, timeout=2 * self.timeout)
        return code, seconds

    def run(
        self, module: str, source: str | None, timeout: float | None = None
    ) -> tuple[int | None, float, str]:
        """Run the module's tests with ``source`` as the module (None: unchanged).

        Returns (exit code or None on timeout, seconds, the tail of the output).
        """
        if self._stopping:
            raise KeyboardInterrupt
        tree = self.tree()
        target = tree / module_path(module)
        original = (ROOT / module_path(module)).read_text(encoding="utf-8")
        target.write_text(original if source is None else source, encoding="utf-8")
        files = [name for name in self.tests_of(module) if (tree / name).exists()]
        command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "TMPDIR": str(tree)}
        started = time.monotonic()
        try:
            process = subprocess.Popen(
                [*command, *self.pytest_args, *files],
                cwd=tree,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # so a timeout kills pytest and its children
            )
            with self._lock:
                self._running.add(process)
            try:
                output, _ = process.communicate(timeout=timeout or self.timeout)
                code: int | None = process.returncode
            except subprocess.TimeoutExpired:
                _kill(process)
                output, _ = process.communicate()
                code = None
            finally:
                with self._lock:
                    self._running.discard(process)
        finally:
            target.write_text(original, encoding="utf-8")
        text = output.decode("utf-8", "replace").strip().splitlines()
        return code, time.monotonic() - started, "\n".join(text[-15:])

    def check_isolation(self) -> None:
        """The copy, not the working tree, is what the tests import."""
        tree = self.tree()
        found = subprocess.run(
            [sys.executable, "-c", f"import {PACKAGE}; print({PACKAGE}.__file__)"],
            cwd=tree,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not Path(found).resolve().is_relative_to(tree.resolve()):
            raise SystemExit(f"error: the tests would import {found}, not the private copy")

    def stop(self) -> None:
        self._stopping = True
        with self._lock:
            running = list(self._running)
        for process in running:
            _kill(process)

    def close(self) -> None:
        self.stop()
        for holder in self._dirs:
            holder.cleanup()


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def load_equivalents() -> dict[str, str]:
    if not EQUIVALENTS.exists():
        return {}
    with EQUIVALENTS.open("rb") as file:
        data = tomllib.load(file)
    return {str(k): str(v) for k, v in data.get("equivalent", {}).items()}


def _sampled(found: list[Mutant], sample: int | None, seed: int) -> list[Mutant]:
    if sample is None or sample >= len(found):
        return found
    chosen = set(random.Random(seed).sample(range(len(found)), sample))
    return [m for i, m in enumerate(found) if i in chosen]


def run(
    modules: list[str],
    *,
    jobs: int,
    timeout: float | None,
    sample: int | None,
    seed: int,
    show: bool,
    pytest_args: tuple[str, ...],
    tests: tuple[str, ...] | None = None,
    only: str | None = None,
) -> dict[str, list[Outcome]]:
    equivalents = load_equivalents()
    results: dict[str, list[Outcome]] = {}
    runner = _Runner(timeout=600.0, pytest_args=pytest_args, tests=tests)
    try:
        runner.check_isolation()
        for module in modules:
            # the unmutated tests must pass, and set the timeout
            runner.timeout = 600.0
            code, seconds, tail = runner.run(module, None)
            if code != 0:
                raise SystemExit(f"error: {module}'s tests fail without any mutation:\n{tail}")
            runner.timeout = timeout or max(10.0, 3 * seconds + 5)
            found = _sampled(mutants(module), sample if module not in CORE else None, seed)
            found = [m for m in found if only is None or only in m.id]
            outcomes: list[Outcome] = [
                Outcome(m, "equivalent", reason=equivalents[m.id])
                for m in found
                if m.id in equivalents
            ]
            todo = [m for m in found if m.id not in equivalents]
            print(
                f"{module}: {len(found)} mutants ({len(todo)} to run), tests take {seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
            try:
                futures = {pool.submit(runner.run_mutant, module, m.source): m for m in todo}
                for future in concurrent.futures.as_completed(futures):
                    mutant = futures[future]
                    code, seconds = future.result()
                    status = "timeout" if code is None else "survived" if code == 0 else "killed"
                    outcomes.append(Outcome(mutant, status, seconds))
                    if show or status == "survived":
                        print(
                            f"  {status:9} {mutant.module}.py:{mutant.line}  {mutant.id}",
                            file=sys.stderr,
                            flush=True,
                        )
            except BaseException:
                runner.stop()  # kill what runs now; queued mutants then refuse to start
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            outcomes.sort(key=lambda o: (o.mutant.line, o.mutant.id))
            results[module] = outcomes
    finally:
        runner.close()
    known = {m.id for module in results for m in mutants(module)}
    for key in sorted(equivalents):
        if key.split(":", 1)[0] in results and key not in known:
            print(f"warning: no such mutant any more (stale equivalent): {key}", file=sys.stderr)
    return results


def _counts(outcomes: list[Outcome]) -> tuple[int, int, int, int]:
    """(killed, total without equivalents, equivalents, of the killed: by timing out)."""
    equivalent = sum(o.status == "equivalent" for o in outcomes)
    killed = sum(o.status in ("killed", "timeout") for o in outcomes)
    timeouts = sum(o.status == "timeout" for o in outcomes)
    return killed, len(outcomes) - equivalent, equivalent, timeouts


def report(results: dict[str, list[Outcome]]) -> float | None:
    """Print survivors, equivalents and the kill rates; return the rate over the core modules."""
    print()
    for module, outcomes in results.items():
        survivors = [o for o in outcomes if o.status == "survived"]
        equivalents = [o for o in outcomes if o.status == "equivalent"]
        if survivors:
            print(f"{module}: survived")
            for o in survivors:
                print(f"  {module}.py:{o.mutant.line}  {o.mutant.id}")
        if equivalents:
            print(f"{module}: equivalent (excluded)")
            for o in equivalents:
                print(f"  {module}.py:{o.mutant.line}  {o.mutant.id}\n      {o.reason}")
    print()
    print(f"{'module':10} {'killed':>7} {'of':>4} {'rate':>7}  equivalent excluded, timeouts")
    core_killed = core_total = 0
    for module, outcomes in results.items():
        killed, total, equivalent, timeouts = _counts(outcomes)
        rate = 100 * killed / total if total else 100.0
        print(f"{module:10} {killed:7} {total:4} {rate:6.1f}%  {equivalent}, {timeouts}")
        if module in CORE:
            core_killed += killed
            core_total += total
    if not core_total:
        return None
    core_rate = 100 * core_killed / core_total
    names = "+".join(m for m in results if m in CORE)
    print(f"{'total':10} {core_killed:7} {core_total:4} {core_rate:6.1f}%  ({names})")
    return core_rate


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"default: {' '.join(CORE)}; also: sessions")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="parallel pytest runs (<= 2)")
    parser.add_argument("--timeout", type=float, help="seconds per mutant (default: 3x baseline)")
    parser.add_argument("--sample", type=int, help="run only N mutants of non-core modules")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", action="store_true", help="print every mutant's outcome")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--tests", nargs="+", help="run these test files instead of the own ones")
    parser.add_argument("--only", help="run only the mutants whose id contains this text")
    parser.add_argument("--fail-under", type=float, help="exit 1 below this core kill rate (%%)")
    args = parser.parse_args(argv)
    modules = list(args.modules) or list(CORE)
    unknown = [m for m in modules if m not in TARGETS]
    if unknown:
        parser.error(f"unknown module {unknown[0]!r} (known: {', '.join(TARGETS)})")
    jobs = max(1, min(args.jobs, 2))
    if args.list:
        for module in modules:
            for mutant in mutants(module):
                print(f"{module}.py:{mutant.line}  {mutant.id}")
        return 0
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        results = run(
            modules,
            jobs=jobs,
            timeout=args.timeout,
            sample=args.sample,
            seed=args.seed,
            show=args.show,
            pytest_args=(),
            tests=tuple(args.tests) if args.tests else None,
            only=args.only,
        )
    except KeyboardInterrupt:
        print("interrupted; the working tree was never changed", file=sys.stderr)
        return 130
    rate = report(results)
    if args.fail_under is not None and rate is not None and rate < args.fail_under:
        print(f"error: {rate:.1f}% of mutants killed, below {args.fail_under:g}%")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
