"""The `--trinity-*` options and their ini twins, resolved once into a frozen `Settings`.

Precedence: command line, then the ini file, then the default. Every value goes through the
same parser whichever way it came, so `--trinity-scale 2` and `trinity_scale = 2` fail with
the same message, which names where the value came from: the option, the ini file, or
`-o trinity_scale` (an ini value overridden on the command line). Relative paths are taken
from the working directory on the command line (`-o` included), from the ini file's folder
in the ini file, and from the rootdir for defaults.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_trinity.drivers.dask_cluster import parse_executor
from pytest_trinity.plan import parse_level_selection, parse_scale
from pytest_trinity.results.compare import parse_limits


def parse_count(text: str) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"must be a whole number ≥ 0, got {text!r}") from None
    if value < 0:
        raise ValueError(f"must be a whole number ≥ 0, got {text!r}")
    return value


@dataclass(frozen=True)
class Settings:
    target: str
    targets_file: Path | None
    profiles: Path
    profiles_given: bool
    scale: float
    levels: tuple[int, ...] | None  # None: every level of the ramp
    report_dir: Path
    stop_after: int | None  # stop a plan test this many levels after its break (None: run all)
    compare: str | None  # an earlier results.json, run folder, or "latest"
    compare_fail: dict[str, float]  # metric -> % of regression that fails a case
    show_plan: bool
    break_lock: bool  # take the target's run lock even if another run holds it
    executor: str  # where the load runs: "local" or "dask://host:port"


@dataclass(frozen=True)
class _Option:
    name: str  # ini name; the flag is --<name with dashes>
    metavar: str
    help: str
    default: str | None
    parse: Callable[[str], Any] = str
    is_path: bool = False

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


OPTIONS = (
    _Option("trinity_target", "NAME", "target to test: 'local' (default) starts the bundled reference cluster on loopback; any other name is a table of --trinity-targets", "local"),
    _Option("trinity_targets", "FILE", "TOML file of target definitions (see docs/targets.md)", None, is_path=True),
    _Option("trinity_profiles", "PATH", "the plan file (default: profiles.toml in the rootdir)", "profiles.toml", is_path=True),
    _Option("trinity_scale", "S", "scale requests and concurrency by S, 0 < S ≤ 1 (at least 1 of each); level ids keep the plan's numbers", "1", parse_scale),
    _Option("trinity_levels", "LEVELS", "ramp levels to run: a range or a list, e.g. 1-9, 5 or 1-3,7 (default: all)", None, parse_level_selection),
    _Option("trinity_report_dir", "DIR", "where results are written (default: reports/ in the rootdir)", "reports", is_path=True),
    _Option("trinity_executor", "EXECUTOR", "where each level's load runs: 'local' (default: worker processes on this machine) or dask://HOST:PORT, the workers of a running Dask scheduler (docs/distributed.md)", "local", parse_executor),
    _Option("trinity_stop_after", "N", "stop a plan test N levels after its breaking point (default: run the whole ramp)", None, parse_count),
    _Option("trinity_compare", "PATH", "compare with an earlier run: its results.json, its folder, or 'latest'", None),
    _Option("trinity_compare_fail", "LIMITS", "fail a case that regressed beyond these limits against --trinity-compare, e.g. rps:10%%,p99:20%%", None, parse_limits),
)


def _argparse_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def checked(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    checked.__name__ = parse.__name__
    return checked


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trinity", "pytest-trinity: run the performance validation plan")
    for option in OPTIONS:
        group.addoption(
            option.flag, dest=option.name, metavar=option.metavar, default=None,
            type=_argparse_type(option.parse), help=option.help,
        )
        parser.addini(option.name, f"ini twin of {option.flag}: " + option.help.replace("%%", "%"), default=None)
    group.addoption(
        "--trinity-plan", dest="trinity_plan", action="store_true", default=False,
        help="print the plan after scaling (tests, levels, requests, concurrency, profile) and exit without sending traffic",
    )
    group.addoption(
        "--trinity-break-lock", dest="trinity_break_lock", action="store_true", default=False,
        help="take the target's run lock even if another plan run holds it (when that run is known to be gone)",
    )


def _overridden(config: pytest.Config, name: str) -> bool:
    """Whether the ini value `name` was given on the command line, `-o name=VALUE`."""
    overrides = getattr(config.option, "override_ini", None) or ()
    return any(isinstance(o, str) and o.partition("=")[0].strip() == name for o in overrides)


def _value(config: pytest.Config, option: _Option) -> tuple[Any, bool]:
    """Return (value, given) for one option, honouring CLI > ini (or -o) > default."""
    cli = config.getoption(option.name)
    if cli is not None:
        return (Path(cli) if option.is_path else cli), True
    raw = config.getini(option.name)
    if raw not in (None, ""):
        override = _overridden(config, option.name)
        try:
            value = option.parse(raw)
        except ValueError as exc:
            if override:
                raise pytest.UsageError(f"-o {option.name}: {exc}") from None
            where = config.inipath.name if config.inipath else "the ini file"
            raise pytest.UsageError(f"{where}: ini option {option.name} {exc}") from None
        if option.is_path:
            if override:
                base = config.invocation_params.dir
            else:
                base = config.inipath.parent if config.inipath else config.rootpath
            value = base / value
        return value, True
    if option.default is None:
        return None, False
    value = option.parse(option.default)
    return (config.rootpath / value if option.is_path else value), False


def resolve_settings(config: pytest.Config) -> Settings:
    values = {option.name: _value(config, option) for option in OPTIONS}
    return Settings(
        target=values["trinity_target"][0],
        targets_file=values["trinity_targets"][0],
        profiles=values["trinity_profiles"][0],
        profiles_given=values["trinity_profiles"][1],
        scale=values["trinity_scale"][0],
        levels=values["trinity_levels"][0],
        report_dir=values["trinity_report_dir"][0],
        stop_after=values["trinity_stop_after"][0],
        compare=values["trinity_compare"][0],
        compare_fail=values["trinity_compare_fail"][0] or {},
        show_plan=bool(config.getoption("trinity_plan")),
        break_lock=bool(config.getoption("trinity_break_lock")),
        executor=values["trinity_executor"][0],
    )
