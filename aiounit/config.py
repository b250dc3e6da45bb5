"""Settings of a run: the command line over AIOUNIT_* variables over setup.cfg/pyproject.toml."""

from __future__ import annotations

import math
import os
import re
import sys

from aiounit.errors import ConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = [
    "KEYS",
    "ConfigFile",
    "Key",
    "Settings",
    "environment_for",
    "find_config",
    "resolve",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


# -- value parsers: each takes a string (or a TOML value) and raises ValueError ------------


def parse_loop(value: object) -> str:
    """A loop name: ``asyncio``, ``uvloop`` or ``package.module:callable``."""
    text = _text(value).strip()
    if text in ("asyncio", "uvloop"):
        return text
    module, sep, attr = text.partition(":")
    if sep and _dotted(module) and _dotted(attr):
        return text
    raise ValueError("expected 'asyncio', 'uvloop' or 'package.module:callable'")


def parse_bool(value: object) -> bool:
    """A yes/no value: a TOML boolean, or true/false, 1/0, yes/no, on/off."""
    if isinstance(value, bool):
        return value
    text = _text(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("expected true or false (or 1/0, yes/no, on/off)")


def parse_timeout(value: object) -> float:
    """A time limit: a number of seconds above 0, or ``none`` for no limit (``math.inf``)."""
    if isinstance(value, str) and value.strip().lower() == "none":
        return math.inf
    return _seconds(value, "expected a number of seconds above 0, or 'none' for no limit")


def parse_checks(value: object) -> str:
    """Check levels: ``check=level`` pairs separated by commas, or a TOML table of them."""
    if isinstance(value, dict):
        value = ",".join(f"{slug}={level}" for slug, level in value.items())
    text = ",".join(part.strip() for part in _text(value).split(",") if part.strip())
    pairs = {}
    for item in text.split(",") if text else ():
        slug, sep, level = item.partition("=")
        if not sep:
            raise ValueError(
                "expected check=level pairs, e.g. leaked-task=error,unawaited-coroutine=off"
            )
        pairs[slug.strip()] = level.strip()
    # Checked against the real list of checks, imported only when checks are configured.
    from aiounit.hygiene import DEFAULT_LEVELS

    for slug, level in pairs.items():
        if slug not in DEFAULT_LEVELS:
            raise ValueError(f"unknown check {slug!r}; known checks: {', '.join(DEFAULT_LEVELS)}")
        if level not in ("error", "warn", "off"):
            raise ValueError(f"check {slug!r}: expected a level of error, warn or off")
    return text


def parse_seconds(value: object) -> float:
    """A duration: a number of seconds above 0."""
    return _seconds(value, "expected a number of seconds above 0")


def _seconds(value: object, expected: str) -> float:
    if isinstance(value, bool):
        raise ValueError(expected)
    try:
        number = float(value) if isinstance(value, int | float) else float(_text(value))
    except ValueError:
        raise ValueError(expected) from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(expected)
    return number


def parse_virtual_time(value: object) -> str:
    """Virtual time for the run: true or ``auto``, ``manual``, or false."""
    if isinstance(value, str) and value.strip().lower() in ("auto", "manual"):
        return value.strip().lower()
    try:
        return "auto" if parse_bool(value) else "off"
    except ValueError:
        raise ValueError("expected true, auto, manual or false") from None


#: How many tests of a concurrent class run at once when no number is given.
DEFAULT_CONCURRENCY = 64


def parse_concurrent(value: object) -> int:
    """Concurrent classes: true (at most :data:`DEFAULT_CONCURRENCY` tests of a class at
    once), false (``0``: one by one), or a whole number of tests at once, 2 or more."""
    if isinstance(value, bool):
        return DEFAULT_CONCURRENCY if value else 0
    if isinstance(value, int) and value >= 0:
        return DEFAULT_CONCURRENCY if value == 1 else value
    text = value.strip().lower() if isinstance(value, str) else ""
    if text.isdigit():
        number = int(text)
        return DEFAULT_CONCURRENCY if number == 1 else number
    try:
        return DEFAULT_CONCURRENCY if parse_bool(text) else 0
    except ValueError:
        raise ValueError(
            "expected true, false, or the most tests of a class to run at once (2 or more)"
        ) from None


def parse_count(value: object) -> int:
    """A whole number, 0 or more."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    text = value.strip() if isinstance(value, str) else ""
    if text.isdigit():
        return int(text)
    raise ValueError("expected a whole number, 0 or more")


def parse_jobs(value: object) -> int:
    """A number of worker processes: a whole number above 0, or ``auto`` (0: one per CPU)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return 0
    try:
        count = parse_count(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError("expected a number of worker processes above 0, or 'auto'")
    return count


def parse_shard(value: object) -> tuple[int, int]:
    """A shard as ``K/N``: shard K (counted from 1) of N."""
    text = value.strip() if isinstance(value, str) else ""
    index, sep, total = text.partition("/")
    if not (sep and index.isdigit() and total.isdigit()):
        raise ValueError("expected K/N, e.g. 1/4 for the first of four shards")
    k, n = int(index), int(total)
    if n < 1 or not 1 <= k <= n:
        raise ValueError(f"expected K/N with 1 <= K <= N, e.g. 1/{max(n, 2)}")
    return k, n


def parse_path(value: object) -> str:
    """A file path."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError("expected a file path")


def _choice(*choices: str) -> Callable[[object], str]:
    def parse(value: object) -> str:
        text = _text(value).strip().lower()
        if text in choices:
            return text
        raise ValueError("expected one of " + ", ".join(choices))

    parse.__doc__ = "One of: " + ", ".join(choices) + "."
    return parse


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    raise ValueError("expected a string")


def _dotted(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


class Key:
    """One setting: its parser, its environment variable and its built-in default."""

    __slots__ = ("default", "env", "name", "parse")

    def __init__(self, name: str, parse: Callable[[object], Any], default: Any = None) -> None:
        self.name = name
        self.parse = parse
        self.default = default
        self.env = "AIOUNIT_" + name.upper()


#: Every setting a config file or the environment may give, by config key.
KEYS: dict[str, Key] = {
    key.name: key
    for key in (
        Key("asyncio_mode", _choice("strict", "auto"), "strict"),
        Key("blocked_loop_threshold", parse_seconds),
        Key("checks", parse_checks),
        Key("color", _choice("auto", "always", "never"), "auto"),
        Key("concurrent", parse_concurrent),
        Key("durations", parse_count),
        Key("durations_file", parse_path),
        Key("jobs", parse_jobs),
        Key("json", parse_path),
        Key("junit_xml", parse_path),
        Key("loop", parse_loop),
        Key("loop_debug", parse_bool),
        Key("random_order", parse_bool, False),
        Key("save_durations", parse_path),
        Key("seed", parse_count),
        Key("strict", parse_bool, False),
        Key("timeout", parse_timeout),
        Key("virtual_time", parse_virtual_time),
        Key("worker_start", _choice("auto", "spawn"), "auto"),
    )
}

_PATH_KEYS = frozenset({"durations_file", "json", "junit_xml", "save_durations"})

# Lines that can open aiounit's table: [tool.aiounit], or aiounit = {...} /
# aiounit.key = ... under [tool], or tool.aiounit.key = ... at the top level. Patterns
# compiled on first use (re caches them), not at import: `import aiounit` in a test module
# under `python -m unittest` never reads a config file.
_PYPROJECT_TABLE = (
    r"""^[ \t]*(\[[ \t]*["']?tool["']?[ \t]*\.[ \t]*["']?aiounit"""
    r"""|(["']?tool["']?[ \t]*\.[ \t]*)?["']?aiounit["']?[ \t]*[.=])"""
)
_SETUP_CFG_SECTION = r"^[ \t]*\[[ \t]*aiounit[ \t]*\]"


class ConfigFile:
    """The ``[aiounit]`` / ``[tool.aiounit]`` section found for a run, as raw values."""

    __slots__ = ("label", "path", "values")

    def __init__(self, path: str, label: str, values: dict[str, object]) -> None:
        self.path = path
        self.label = label
        self.values = values


class Settings:
    """The settings of one run, each from the command line, the environment, a file or a default.

    ``sources`` maps each key to where its value came from (``--loop``,
    ``AIOUNIT_LOOP``, ``pyproject.toml [tool.aiounit]``, or ``default``); ``root`` is the
    project directory: the one holding the config file, else the working directory.
    """

    asyncio_mode: str
    blocked_loop_threshold: float | None
    checks: str | None
    color: str
    concurrent: int | None
    durations: int | None
    durations_file: str | None
    jobs: int | None
    json: str | None
    junit_xml: str | None
    loop: str | None
    loop_debug: bool | None
    random_order: bool
    save_durations: str | None
    seed: int | None
    strict: bool
    timeout: float | None
    virtual_time: str | None
    worker_start: str

    def __init__(self, root: str, config: ConfigFile | None = None) -> None:
        self.root = root
        self.config = config
        self.sources: dict[str, str] = {}
        for key in KEYS.values():
            setattr(self, key.name, key.default)
            self.sources[key.name] = "default"


def find_config(start: str) -> tuple[str, ConfigFile | None]:
    """Find the project root from ``start`` upwards, and read its aiounit section if any.

    The root is the first directory holding a ``pyproject.toml`` or ``setup.cfg``
    (``start`` itself when none does). Raises :class:`ConfigurationError` when a file
    cannot be parsed or both files have an aiounit section.
    """
    directory = os.path.abspath(start)
    while True:
        pyproject = os.path.join(directory, "pyproject.toml")
        setup_cfg = os.path.join(directory, "setup.cfg")
        if os.path.isfile(pyproject) or os.path.isfile(setup_cfg):
            break
        parent = os.path.dirname(directory)
        if parent == directory:
            return os.path.abspath(start), None
        directory = parent
    found = [
        section
        for section in (_read_pyproject(pyproject), _read_setup_cfg(setup_cfg))
        if section is not None
    ]
    if len(found) > 1:
        raise ConfigurationError(
            f"aiounit settings are in both {found[0].path} [tool.aiounit] and "
            f"{found[1].path} [aiounit]; it is not clear which should win. Keep one of the "
            "two sections",
            slug="config-in-two-files",
        )
    return directory, (found[0] if found else None)


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"{path} cannot be read ({exc}). Fix the file or its permissions",
            slug="bad-config-file",
        ) from None


def _read_pyproject(path: str) -> ConfigFile | None:
    text = _read_text(path)
    # Importing tomllib costs more than running a small suite: skip files that cannot
    # have the table (most name aiounit only as a dependency).
    if text is None or not re.search(_PYPROJECT_TABLE, text, re.MULTILINE):
        return None
    import tomllib

    label = f"{path} [tool.aiounit]"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(
            f"{path} is not valid TOML ({exc}). Fix the file", slug="bad-config-file"
        ) from None
    tool = data.get("tool")
    section = tool.get("aiounit") if isinstance(tool, dict) else None
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigurationError(
            f"{label} must be a table of settings, not {type(section).__name__}. "
            "Write it as a [tool.aiounit] section with key = value lines",
            slug="bad-config-file",
        )
    return ConfigFile(path, label, dict(section))


def _read_setup_cfg(path: str) -> ConfigFile | None:
    text = _read_text(path)
    if text is None or not re.search(_SETUP_CFG_SECTION, text, re.MULTILINE):
        return None
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        raise ConfigurationError(
            f"{path} cannot be parsed ({exc}). Fix the file", slug="bad-config-file"
        ) from None
    if not parser.has_section("aiounit"):
        return None
    return ConfigFile(path, f"{path} [aiounit]", dict(parser.items("aiounit")))


def resolve(
    cli: Mapping[str, object], environ: Mapping[str, str], cwd: str | None = None
) -> Settings:
    """Combine the command line, the environment and the config file into :class:`Settings`.

    ``cli`` maps config keys to values already parsed from the command line, ``None``
    meaning "not given". The config file is looked for from ``cwd`` (default: the working
    directory) upwards. Raises :class:`ConfigurationError` naming the file or variable,
    the key and the accepted values when a value is bad or a key is unknown.
    """
    root, config = find_config(os.getcwd() if cwd is None else cwd)
    settings = Settings(root, config)
    file_values: dict[str, object] = {}
    if config is not None:
        for raw_key, raw_value in config.values.items():
            key_name = raw_key.replace("-", "_")
            key = KEYS.get(key_name)
            if key is None:
                raise ConfigurationError(
                    f"{config.label}: unknown key {raw_key!r}. Known keys: "
                    f"{', '.join(KEYS)}. Fix the spelling or remove the line",
                    slug="unknown-config-key",
                )
            file_values[key_name] = _parse(key, raw_value, f"{config.label}: {raw_key}")
    for key in KEYS.values():
        value = cli.get(key.name)
        if value is not None:
            setattr(settings, key.name, value)
            settings.sources[key.name] = option_name(key.name)
            continue
        raw = environ.get(key.env, "")
        if raw.strip():
            setattr(settings, key.name, _parse(key, raw, f"environment variable {key.env}"))
            settings.sources[key.name] = key.env
            continue
        if key.name in file_values:
            value = file_values[key.name]
            if key.name in _PATH_KEYS and config is not None and isinstance(value, str):
                # A report path in a config file is relative to that file, wherever the
                # tests are started from.
                value = os.path.join(os.path.dirname(config.path), value)
            setattr(settings, key.name, value)
            settings.sources[key.name] = config.label if config is not None else "config"
    if settings.seed is not None and settings.sources["random_order"] == "default":
        # A seed only means something for a random order: giving one asks for it.
        settings.random_order = True
    if settings.loop == "uvloop":
        _require_uvloop(settings.sources["loop"])
    return settings


def option_name(key: str) -> str:
    """The command-line option that sets config key ``key`` (``junit_xml`` -> ``--junit-xml``)."""
    return "--" + key.replace("_", "-")


def _parse(key: Key, raw: object, where: str) -> Any:
    try:
        return key.parse(raw)
    except ValueError as exc:
        raise ConfigurationError(
            f"{where} = {raw!r} is not a valid value for {key.name}: {exc}",
            slug="bad-config-value",
        ) from None


def _require_uvloop(source: str) -> None:
    from importlib.util import find_spec

    if find_spec("uvloop") is None:
        raise ConfigurationError(
            f"uvloop was asked for (by {source}) but is not installed in this environment "
            f"({sys.executable}). "
            "Install it with `pip install aiounit[uvloop]` (or `pip install uvloop`), or "
            "choose the asyncio loop",
            slug="uvloop-missing",
        )


def environment_for(settings: Settings) -> dict[str, str]:
    """The ``AIOUNIT_*`` variables a run sets, so test cases and subprocesses see the settings.

    The loop, debug mode, time limit and check levels reach test cases through the
    environment: cases read ``AIOUNIT_LOOP``, ``AIOUNIT_LOOP_DEBUG``, ``AIOUNIT_TIMEOUT``,
    ``AIOUNIT_CHECKS``, ``AIOUNIT_STRICT``, ``AIOUNIT_BLOCKED_LOOP_THRESHOLD``,
    ``AIOUNIT_VIRTUAL_TIME`` and ``AIOUNIT_CONCURRENT`` themselves.
    """
    variables: dict[str, str] = {}
    if settings.loop is not None:
        variables[KEYS["loop"].env] = settings.loop
    if settings.loop_debug is not None:
        variables[KEYS["loop_debug"].env] = "1" if settings.loop_debug else "0"
    if settings.timeout is not None:
        timeout = settings.timeout
        variables[KEYS["timeout"].env] = "none" if math.isinf(timeout) else f"{timeout:g}"
    if settings.checks:
        variables[KEYS["checks"].env] = settings.checks
    if settings.blocked_loop_threshold is not None:
        threshold = settings.blocked_loop_threshold
        variables[KEYS["blocked_loop_threshold"].env] = f"{threshold:g}"
    if settings.strict:
        variables[KEYS["strict"].env] = "1"
    if settings.virtual_time is not None:
        variables[KEYS["virtual_time"].env] = settings.virtual_time
    if settings.concurrent is not None:
        variables[KEYS["concurrent"].env] = str(settings.concurrent)
    return variables
