"""Mutation testing: which small changes to a module its unit tests fail to notice.

    scripts/mutate bot/core/permissions.py [bot/core/parser.py ...] [--tests tests/x.py ...] [--only 3,17]

Each mutant is one small change to the module's source, made on its syntax tree: a comparison
flipped (``<`` to ``>=``, ``==`` to ``!=``, ``in`` to ``not in``, ``is`` to ``is not``), ``and``
and ``or`` swapped, a ``not`` removed, a returned value replaced by ``None``, a statement
deleted (replaced by ``pass``), a constant moved by one (``True`` to ``False``, ``3`` to ``4``).
Strings, docstrings, type annotations and module-level statements are left alone.

The module's unit tests (``UNIT_TESTS``, or ``--tests``) are run once on the unchanged module,
tracing which test runs which of its lines. Then, one mutant at a time, a child process forked
from this one (pytest and the libraries already imported, so a mutant costs well under a second
of start-up) imports the mutant in place of the module and runs the tests that run the mutated
line, the quickest first, stopping at the first failure. A failure, an error or a timeout kills the mutant; a mutant
whose line no test runs survives without a run. Everything is deterministic: mutants are
numbered in source order, Hypothesis is derandomized and keeps no example database.

Slow (minutes per module), so not part of ``scripts/test``; docs/testing.md, "Mutation
testing", lists the last scores and every survivor.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FrameType, ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The fast unit tests of each core module: no real Airflow, no bot process.
UNIT_TESTS: dict[str, tuple[str, ...]] = {
    "bot/core/permissions.py": ("tests/unit/test_permissions.py",),
    "bot/core/parser.py": ("tests/unit/test_parser.py",),
    # The config package's modules: test_config reaches every one through parse_config.
    **{
        f"bot/config/{module}.py": ("tests/unit/test_config.py",)
        for module in (
            "loader",
            "checker",
            "checks",
            "deployments",
            "grants",
            "slack_ids",
            "model",
        )
    },
    **{
        f"bot/airflow/{module}.py": (
            "tests/unit/test_airflow_client.py",
            "tests/unit/test_airflow_client_runs.py",
            "tests/unit/test_airflow_auth.py",
        )
        for module in ("client", "transport")
    },
    "bot/airflow/auth.py": (
        "tests/unit/test_airflow_client.py",
        "tests/unit/test_airflow_auth.py",
        "tests/unit/test_airflow_oauth2.py",
    ),
    # The registry's own rules, and the parser and config that read it.
    "bot/core/verbs.py": (
        "tests/unit/test_registry.py",
        "tests/unit/test_parser.py",
        "tests/unit/test_config.py",
    ),
    # On a real SQLite store, and in process against the scripted Airflow 3.1 (no server).
    "bot/core/answer_claims.py": (
        "tests/unit/test_answer_claims.py",
        "tests/flow/test_hitl_flow.py",
    ),
    "bot/slack/journal.py": (
        "tests/unit/test_journal.py",
        "tests/unit/test_journal_tokens.py",
        "tests/flow/test_journal_flow.py",
    ),
    # The watch's silent trouble and the failures' incidents, through their flow tests.
    "bot/core/silent.py": ("tests/flow/test_silent_flow.py",),
    "bot/core/incidents.py": (
        "tests/flow/test_incidents_flow.py",
        "tests/flow/test_watch_flow.py",
    ),
    "bot/core/changes.py": ("tests/unit/test_changes.py",),
    # When a `late` deadline falls, and the config's times and zones it is made of.
    "bot/core/deadlines.py": ("tests/unit/test_deadlines.py",),
    "bot/config/times.py": ("tests/unit/test_times.py",),
}
PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly")
# Lines run outside any test (on import, in session fixtures): a mutant there runs every test.
OUTSIDE_TESTS = "<outside tests>"

_FLIPPED: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
_NOT_DELETED = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.Import,
    ast.ImportFrom,
    ast.Pass,
    ast.Global,
    ast.Nonlocal,
)
_ANNOTATION_FIELDS = frozenset({"annotation", "returns", "type_comment"})


# --- mutants -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    number: int  # 1-based, in source order
    line: int
    end_line: int
    kind: str  # comparison, boolean, not, return, delete, constant
    before: str
    after: str
    site: int  # the node's index in _sites() order
    variant: int  # which operator of a comparison

    def describe(self, path: str) -> str:
        return f"{path}:{self.line}  #{self.number} {self.kind}: {self.before} -> {self.after}"


@dataclass
class _Site:
    node: ast.AST
    replace: Callable[[ast.AST], None]  # put another node in this one's place
    in_function: bool
    ends_function: bool = False  # the last statement of a function's body


def _sites(tree: ast.Module) -> list[_Site]:
    """Every node that may be mutated, in a fixed (source) order."""
    sites: list[_Site] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        is_function = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for name, value in ast.iter_fields(node):
            if name in _ANNOTATION_FIELDS:
                continue
            if isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        last = is_function and name == "body" and index == len(value) - 1
                        sites.append(_Site(item, _setter(value, index), inner, last))
                        visit(item, inner)
            elif isinstance(value, ast.AST):
                sites.append(_Site(value, _attr_setter(node, name), inner))
                visit(value, inner)

    visit(tree, False)
    return sites


def _setter(items: list[Any], index: int) -> Callable[[ast.AST], None]:
    def put(new: ast.AST) -> None:
        items[index] = new

    return put


def _attr_setter(node: ast.AST, name: str) -> Callable[[ast.AST], None]:
    def put(new: ast.AST) -> None:
        setattr(node, name, new)

    return put


def _is_docstring(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    )


def _variants(site: _Site) -> Iterator[tuple[str, int, ast.AST]]:
    """(kind, variant, replacement node) for each mutant of this site."""
    node = site.node
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            flipped = _FLIPPED.get(type(op))
            if flipped is not None:
                new = copy.deepcopy(node)
                new.ops[index] = flipped()
                yield "comparison", index, new
    elif isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield "boolean", 0, ast.BoolOp(op=other, values=copy.deepcopy(node.values))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not", 0, copy.deepcopy(node.operand)
    elif isinstance(node, ast.Constant) and (site.in_function or _is_module_number(node)):
        value = node.value
        if isinstance(value, bool):
            yield "constant", 0, ast.Constant(not value)
        elif isinstance(value, int | float):
            yield "constant", 0, ast.Constant(value + 1)
    if (
        isinstance(node, ast.Return)
        and site.in_function
        and node.value is not None
        and not isinstance(node.value, ast.Constant)
    ):
        yield "return", 0, ast.Return(value=ast.Constant(None))
    if (
        isinstance(node, ast.stmt)
        and site.in_function
        and not isinstance(node, _NOT_DELETED)
        and not _is_docstring(node)
        and not (isinstance(node, ast.AnnAssign) and node.value is None)  # declares, does nothing
        # Deleting a function's final `return x` is the `return None` mutant again.
        and not (isinstance(node, ast.Return) and site.ends_function)
    ):
        yield "delete", 0, ast.Pass()


def _is_module_number(node: ast.Constant) -> bool:
    # Module-level numbers are the tunables (limits, timeouts): worth moving too.
    return isinstance(node.value, int | float) and not isinstance(node.value, bool)


def _show(node: ast.AST, *, deleted: bool = False) -> str:
    if isinstance(node, ast.Pass) and not deleted:
        return "(deleted)"
    text = ast.unparse(node).splitlines()
    shown = text[0] + (" ..." if len(text) > 1 else "")
    return "`" + (shown if len(shown) <= 90 else shown[:86] + " ...") + "`"


def find_mutants(source: str) -> list[Mutant]:
    tree = ast.parse(source)
    mutants: list[Mutant] = []
    for site_index, site in enumerate(_sites(tree)):
        node = site.node
        line: int = getattr(node, "lineno", 0)
        end_line: int = getattr(node, "end_lineno", None) or line
        for kind, variant, new in _variants(site):
            if kind == "delete":
                before, after = _show(node, deleted=True), "(deleted)"
            else:
                before, after = _show(node), _show(new)
            mutants.append(
                Mutant(
                    number=len(mutants) + 1,
                    line=line,
                    end_line=end_line,
                    kind=kind,
                    before=before,
                    after=after,
                    site=site_index,
                    variant=variant,
                )
            )
    return mutants


def mutated_code(source: str, path: str, mutant: Mutant) -> CodeType:
    """The module's code with this one mutant applied (line numbers as in the file)."""
    tree = ast.parse(source)
    site = _sites(tree)[mutant.site]
    for kind, variant, new in _variants(site):
        if (kind, variant) == (mutant.kind, mutant.variant):
            site.replace(ast.copy_location(new, site.node))
            break
    else:  # pragma: no cover - find_mutants and _variants agree by construction
        raise AssertionError(f"mutant {mutant.number} not found")
    return compile(ast.fix_missing_locations(tree), str(ROOT / path), "exec")


# --- running -------------------------------------------------------------------------------


class _MutantImporter(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves the mutated code when the module is imported (only in the forked child)."""

    def __init__(self, name: str, filename: str, code: CodeType) -> None:
        self._name = name
        self._filename = filename
        self._code = code

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self._name:
            return None
        return importlib.util.spec_from_file_location(fullname, self._filename, loader=self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        exec(self._code, module.__dict__)  # noqa: S102 - our own mutated source


class _Select:
    """A pytest plugin: run only the chosen tests (all when None), the quickest first, so
    that a mutant a quick test kills costs no slow one."""

    def __init__(self, nodeids: frozenset[str] | None, seconds: dict[str, float]) -> None:
        self._nodeids = nodeids
        self._seconds = seconds

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        if self._nodeids is not None:
            items[:] = [item for item in items if item.nodeid in self._nodeids]
        items.sort(key=lambda item: self._seconds.get(item.nodeid, 0.0))


class _LineTracer:
    """A pytest plugin recording which test runs which lines of one file."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.current = OUTSIDE_TESTS
        self.lines: dict[str, set[int]] = {}
        self.seconds: dict[str, float] = {}

    def trace(self, frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code.co_filename != self.filename:
            return None
        self.lines.setdefault(self.current, set()).add(frame.f_lineno)
        return self._trace_lines

    def _trace_lines(self, frame: FrameType, event: str, arg: object) -> Any:
        if event == "line":
            self.lines.setdefault(self.current, set()).add(frame.f_lineno)
        return self._trace_lines

    def pytest_runtest_protocol(self, item: Any, nextitem: Any) -> None:
        self.current = item.nodeid
        self.lines.setdefault(item.nodeid, set())

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self.current = OUTSIDE_TESTS

    def pytest_runtest_logreport(self, report: Any) -> None:
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration


def _quiet_hypothesis() -> None:
    # The same examples on every run, and none replayed from an earlier mutant's failure.
    from hypothesis import settings

    settings.register_profile("mutation", derandomize=True, database=None, deadline=None)
    settings.load_profile("mutation")


def _run_forked(body: Callable[[], int], timeout: float, *, verbose: bool) -> int | None:
    """Run ``body`` in a forked child; its exit status, or None if it ran out of time."""
    pid = os.fork()
    if pid == 0:  # the child: never return into the parent's code
        status = 70
        try:
            os.setpgid(0, 0)
            if not verbose:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            status = body()
        except BaseException:  # any escape is a failure, reported by the status
            status = 71
        finally:
            os._exit(status)
    deadline = time.monotonic() + timeout
    while True:
        done, wait_status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(wait_status)
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.01)


def _pytest(tests: Sequence[str], plugins: list[object]) -> int:
    import pytest

    os.chdir(ROOT)
    return int(pytest.main([*PYTEST_ARGS, *tests], plugins=plugins))


def _module_name(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def _warm_up() -> None:
    """Import what every run needs once, here, so each forked child starts with it."""
    import _pytest.config  # noqa: F401
    import hypothesis  # noqa: F401
    import pytest  # noqa: F401
    import requests  # noqa: F401
    import yaml  # noqa: F401

    _quiet_hypothesis()


@dataclass(frozen=True)
class Result:
    path: str
    mutants: list[Mutant]
    survivors: list[tuple[Mutant, str]]  # the mutant and why it lived
    seconds: float
    timeouts: int  # mutants killed by the timeout (a loop that never ends, say)
    invalid: list[Mutant]  # left out: Python refuses the mutated source (`nonlocal x` alone)

    @property
    def killed(self) -> int:
        return len(self.mutants) - len(self.survivors)

    @property
    def score(self) -> float:
        return self.killed / len(self.mutants) if self.mutants else 1.0


def mutate(
    path: str,
    tests: Sequence[str],
    *,
    only: frozenset[int] | None = None,
    verbose: bool = False,
    progress: Callable[[str], None] = print,
) -> Result:
    started = time.monotonic()
    name = _module_name(path)
    filename = str(ROOT / path)
    if name in sys.modules:
        raise RuntimeError(f"{name} is already imported here: a child would not see a mutant")
    source = (ROOT / path).read_text(encoding="utf-8")
    mutants = [m for m in find_mutants(source) if only is None or m.number in only]

    # One traced run of the unchanged module: it must pass, and it says which test runs what.
    with tempfile.TemporaryDirectory() as tmp:
        lines_file = Path(tmp) / "lines.json"

        def traced() -> int:
            tracer = _LineTracer(filename)
            sys.settrace(tracer.trace)
            threading.settrace(tracer.trace)
            status = _pytest(tests, [tracer])
            sys.settrace(None)
            lines = {test: sorted(seen) for test, seen in tracer.lines.items()}
            lines_file.write_text(json.dumps({"lines": lines, "seconds": tracer.seconds}))
            return status

        baseline_started = time.monotonic()
        status = _run_forked(traced, 600, verbose=verbose)
        if status != 0:
            raise RuntimeError(f"the tests fail on the unchanged {path} (exit status {status})")
        traced_run = json.loads(lines_file.read_text())
    lines_by_test = {t: set(lines) for t, lines in traced_run["lines"].items()}
    seconds: dict[str, float] = traced_run["seconds"]
    baseline = time.monotonic() - baseline_started
    # Tracing slows the run down; a mutant that takes this long again is stuck, not slow.
    timeout = max(10.0, 3 * baseline)
    outside = lines_by_test.pop(OUTSIDE_TESTS, set())

    survivors: list[tuple[Mutant, str]] = []
    invalid: list[Mutant] = []
    timeouts = 0
    for index, mutant in enumerate(mutants, 1):
        try:
            code = mutated_code(source, path, mutant)
        except SyntaxError:
            invalid.append(mutant)
            continue
        span = set(range(mutant.line, mutant.end_line + 1))
        chosen: frozenset[str] | None
        if span & outside:
            chosen = None
        else:
            chosen = frozenset(t for t, lines in lines_by_test.items() if span & lines)
            if not chosen:
                survivors.append((mutant, "no test runs this line"))
                progress(f"[{index}/{len(mutants)}] survived (not run): {mutant.describe(path)}")
                continue

        def run(code: CodeType = code, chosen: frozenset[str] | None = chosen) -> int:
            sys.meta_path.insert(0, _MutantImporter(name, filename, code))
            return _pytest(tests, [_Select(chosen, seconds)])

        status = _run_forked(run, timeout, verbose=verbose)
        if status == 0:
            survivors.append((mutant, "the tests pass"))
            progress(f"[{index}/{len(mutants)}] survived: {mutant.describe(path)}")
        elif status == 5:  # pytest: no tests collected, i.e. none selected ran
            survivors.append((mutant, "no test ran"))
            progress(f"[{index}/{len(mutants)}] survived (no test ran): {mutant.describe(path)}")
        else:
            timeouts += status is None
        if verbose and status not in (0, 5):
            outcome = "timed out" if status is None else f"exit status {status}"
            progress(f"[{index}/{len(mutants)}] killed ({outcome}): {mutant.describe(path)}")
    counted = [m for m in mutants if m not in invalid]
    return Result(path, counted, survivors, time.monotonic() - started, timeouts, invalid)


def report(results: Sequence[Result]) -> str:
    lines = [
        "| module (unit tests) | mutants | killed | survived | score |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        tests = ", ".join(Path(t).stem for t in UNIT_TESTS.get(r.path, ()))
        lines.append(
            f"| `{r.path}` ({tests}) | {len(r.mutants)} | {r.killed} | {len(r.survivors)} "
            f"| {r.score:.0%} |"
        )
    for r in results:
        lines.append("")
        lines.append(
            f"{r.path}: {len(r.survivors)} survivors; {r.timeouts} mutants killed by the "
            f"timeout; {len(r.invalid)} left out as they do not compile; {r.seconds:.0f} s"
        )
        lines += [f"  {m.describe(r.path)}  [{why}]" for m, why in r.survivors]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="+", help="e.g. bot/core/permissions.py")
    parser.add_argument("--tests", nargs="+", help="test files (default: UNIT_TESTS)")
    parser.add_argument("--only", help="mutant numbers, comma-separated: run just these")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the tests' output")
    args = parser.parse_args(argv)
    only = frozenset(int(n) for n in args.only.split(",")) if args.only else None
    if args.list:
        for path in args.modules:
            for m in find_mutants((ROOT / path).read_text(encoding="utf-8")):
                if only is None or m.number in only:
                    print(m.describe(path))
        return 0
    _warm_up()
    results = []
    for path in args.modules:
        tests = args.tests or UNIT_TESTS.get(path)
        if not tests:
            parser.error(f"no unit tests known for {path}: name them with --tests")
        results.append(mutate(path, tests, only=only, verbose=args.verbose))
    print()
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
