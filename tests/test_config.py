"""Settings: command line over AIOUNIT_* variables over setup.cfg / pyproject.toml."""

from __future__ import annotations

import importlib.util
import math
import tempfile
import textwrap
import unittest
from pathlib import Path
from typing import Any

from aiounit import config
from aiounit.errors import ConfigurationError


class ConfigTestCase(unittest.TestCase):
    def setUp(self) -> None:
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.root = Path(tmp.name).resolve()

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def resolve(
        self,
        cli: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> config.Settings:
        return config.resolve(cli or {}, env or {}, str(cwd or self.root))

    def assert_config_error(self, slug: str, *fragments: str, **kwargs: Any) -> str:
        with self.assertRaises(ConfigurationError) as caught:
            self.resolve(**kwargs)
        message = str(caught.exception)
        self.assertTrue(message.endswith(f"[{slug}]"), message)
        for fragment in fragments:
            self.assertIn(fragment, message)
        return message


class Files(ConfigTestCase):
    def test_defaults_without_any_file(self) -> None:
        settings = self.resolve()
        self.assertEqual(settings.root, str(self.root))
        self.assertIsNone(settings.config)
        self.assertEqual(settings.asyncio_mode, "strict")
        self.assertEqual(settings.color, "auto")
        self.assertFalse(settings.random_order)
        for key in ("loop", "loop_debug", "timeout", "junit_xml", "json", "durations", "seed"):
            self.assertIsNone(getattr(settings, key), key)
        self.assertEqual(set(settings.sources.values()), {"default"})

    def test_pyproject_table(self) -> None:
        path = self.write(
            "pyproject.toml",
            """
            [project]
            name = "demo"
            dependencies = ["aiounit"]

            [tool.aiounit]
            loop = "uvloop"
            loop_debug = true
            asyncio_mode = "auto"
            timeout = 2.5
            junit_xml = "reports/junit.xml"
            json = "reports/run.json"
            color = "never"
            durations = 5
            random_order = true
            seed = 1234
            """,
        )
        if importlib.util.find_spec("uvloop") is None:
            self.write("pyproject.toml", path.read_text().replace('"uvloop"', '"asyncio"'))
        settings = self.resolve()
        label = f"{path} [tool.aiounit]"
        self.assertEqual(settings.sources["loop"], label)
        self.assertIn(settings.loop, ("uvloop", "asyncio"))
        self.assertIs(settings.loop_debug, True)
        self.assertEqual(settings.asyncio_mode, "auto")
        self.assertEqual(settings.timeout, 2.5)
        # Report paths in a file are relative to that file.
        self.assertEqual(settings.junit_xml, str(self.root / "reports" / "junit.xml"))
        self.assertEqual(settings.json, str(self.root / "reports" / "run.json"))
        self.assertEqual(settings.color, "never")
        self.assertEqual(settings.durations, 5)
        self.assertIs(settings.random_order, True)
        self.assertEqual(settings.seed, 1234)

    def test_setup_cfg_section(self) -> None:
        path = self.write(
            "setup.cfg",
            """
            [metadata]
            name = aiounit-user

            [aiounit]
            loop = mypkg.loops:new_loop
            loop_debug = yes
            timeout = 10
            asyncio-mode = auto
            random_order = off
            """,
        )
        settings = self.resolve()
        self.assertEqual(settings.loop, "mypkg.loops:new_loop")
        self.assertIs(settings.loop_debug, True)
        self.assertEqual(settings.timeout, 10.0)
        self.assertEqual(settings.asyncio_mode, "auto")
        self.assertIs(settings.random_order, False)
        self.assertEqual(settings.sources["loop"], f"{path} [aiounit]")

    def test_other_ways_to_write_the_pyproject_table(self) -> None:
        for text in (
            '[tool]\naiounit = { color = "never" }\n',
            '[tool]\naiounit.color = "never"\n',
            'tool.aiounit.color = "never"\n',
            '[tool."aiounit"]\ncolor = "never"\n',
        ):
            with self.subTest(text=text):
                self.write("pyproject.toml", text)
                self.assertEqual(self.resolve().color, "never")

    def test_a_file_without_the_section_is_ignored(self) -> None:
        self.write("pyproject.toml", '[project]\nname = "x"\ndependencies = ["aiounit>=1"]\n')
        self.write("setup.cfg", "[metadata]\nname = aiounit\n")
        settings = self.resolve()
        self.assertIsNone(settings.config)
        self.assertEqual(settings.root, str(self.root))

    def test_the_root_is_found_from_a_subdirectory(self) -> None:
        self.write("setup.cfg", "[aiounit]\ncolor = always\n")
        inner = self.root / "src" / "tests"
        inner.mkdir(parents=True)
        settings = self.resolve(cwd=inner)
        self.assertEqual(settings.root, str(self.root))
        self.assertEqual(settings.color, "always")

    def test_the_nearest_project_wins(self) -> None:
        self.write("setup.cfg", "[aiounit]\ncolor = always\n")
        self.write("sub/pyproject.toml", '[project]\nname = "inner"\n')
        settings = self.resolve(cwd=self.root / "sub")
        self.assertEqual(settings.root, str(self.root / "sub"))
        self.assertEqual(settings.color, "auto")

    def test_both_files_with_a_section_is_an_error(self) -> None:
        pyproject = self.write("pyproject.toml", '[tool.aiounit]\ncolor = "never"\n')
        setup_cfg = self.write("setup.cfg", "[aiounit]\ncolor = always\n")
        self.assert_config_error("config-in-two-files", str(pyproject), str(setup_cfg))


class BadFiles(ConfigTestCase):
    def test_unknown_key_names_the_file_the_key_and_the_known_keys(self) -> None:
        path = self.write("pyproject.toml", '[tool.aiounit]\nloop_scope = "class"\n')
        message = self.assert_config_error(
            "unknown-config-key", f"{path} [tool.aiounit]", "'loop_scope'", "Known keys:"
        )
        for key in config.KEYS:
            self.assertIn(key, message)

    def test_bad_values_name_the_file_the_key_and_the_accepted_values(self) -> None:
        cases = [
            ("loop = not a loop", "loop", "'asyncio', 'uvloop' or 'package.module:callable'"),
            ("loop_debug = maybe", "loop_debug", "true or false"),
            ("asyncio_mode = sometimes", "asyncio_mode", "strict, auto"),
            ("color = pink", "color", "auto, always, never"),
            ("timeout = -1", "timeout", "above 0"),
            ("timeout = 0", "timeout", "'none' for no limit"),
            ("timeout = soon", "timeout", "number of seconds"),
            ("durations = 2.5", "durations", "whole number"),
            ("seed = -3", "seed", "whole number"),
            ("json = ", "json", "file path"),
        ]
        for line, key, accepted in cases:
            with self.subTest(line=line):
                path = self.write("setup.cfg", f"[aiounit]\n{line}\n")
                self.assert_config_error("bad-config-value", f"{path} [aiounit]: {key}", accepted)

    def test_toml_values_of_the_wrong_type(self) -> None:
        for line, key in (
            ("loop_debug = 1.5", "loop_debug"),
            ("color = true", "color"),
            ("timeout = true", "timeout"),
            ("durations = -1", "durations"),
            ("seed = true", "seed"),
        ):
            with self.subTest(line=line):
                path = self.write("pyproject.toml", f"[tool.aiounit]\n{line}\n")
                self.assert_config_error("bad-config-value", f"{path} [tool.aiounit]: {key}")

    def test_unparsable_files(self) -> None:
        path = self.write("pyproject.toml", "[tool.aiounit]\ncolor = \n")
        self.assert_config_error("bad-config-file", str(path), "not valid TOML")
        path.unlink()
        path = self.write("setup.cfg", "[aiounit]\ncolor never\n")
        self.assert_config_error("bad-config-file", str(path))

    def test_a_section_that_is_not_a_table(self) -> None:
        path = self.write("pyproject.toml", 'tool.aiounit = "fast"\n')
        self.assert_config_error("bad-config-file", f"{path} [tool.aiounit]", "table")


class Precedence(ConfigTestCase):
    def test_command_line_over_environment_over_file(self) -> None:
        path = self.write("setup.cfg", "[aiounit]\ncolor = always\ndurations = 3\ntimeout = 4\n")
        env = {"AIOUNIT_COLOR": "never", "AIOUNIT_DURATIONS": "7"}
        settings = self.resolve(cli={"color": "auto"}, env=env)
        self.assertEqual((settings.color, settings.sources["color"]), ("auto", "--color"))
        self.assertEqual(
            (settings.durations, settings.sources["durations"]), (7, "AIOUNIT_DURATIONS")
        )
        self.assertEqual(
            (settings.timeout, settings.sources["timeout"]), (4.0, f"{path} [aiounit]")
        )

    def test_environment_values_are_checked_and_named(self) -> None:
        self.assert_config_error(
            "bad-config-value",
            "environment variable AIOUNIT_LOOP_DEBUG",
            "'sometimes'",
            "true or false",
            env={"AIOUNIT_LOOP_DEBUG": "sometimes"},
        )
        self.assert_config_error(
            "bad-config-value",
            "AIOUNIT_LOOP",
            "package.module:callable",
            env={"AIOUNIT_LOOP": "a:b:c"},
        )

    def test_empty_environment_variables_count_as_unset(self) -> None:
        self.write("setup.cfg", "[aiounit]\ncolor = always\n")
        self.assertEqual(self.resolve(env={"AIOUNIT_COLOR": " "}).color, "always")

    def test_environment_report_paths_stay_as_given(self) -> None:
        settings = self.resolve(env={"AIOUNIT_JUNIT_XML": "out/junit.xml"})
        self.assertEqual(settings.junit_xml, "out/junit.xml")

    def test_a_seed_asks_for_random_order_unless_it_was_turned_off(self) -> None:
        self.assertTrue(self.resolve(cli={"seed": 3}).random_order)
        self.assertTrue(self.resolve(env={"AIOUNIT_SEED": "3"}).random_order)
        self.assertFalse(self.resolve(cli={"seed": 3, "random_order": False}).random_order)

    def test_uvloop_must_be_installed_to_be_asked_for(self) -> None:
        if importlib.util.find_spec("uvloop") is None:
            self.assert_config_error(
                "uvloop-missing", "by --loop", "pip install", cli={"loop": "uvloop"}
            )
            self.assert_config_error(
                "uvloop-missing", "by AIOUNIT_LOOP", env={"AIOUNIT_LOOP": "uvloop"}
            )
        else:
            self.assertEqual(self.resolve(cli={"loop": "uvloop"}).loop, "uvloop")


class Environment(ConfigTestCase):
    def test_the_run_exports_loop_debug_and_timeout(self) -> None:
        settings = self.resolve(cli={"loop": "pkg.mod:factory", "loop_debug": True, "timeout": 2.5})
        self.assertEqual(
            config.environment_for(settings),
            {
                "AIOUNIT_LOOP": "pkg.mod:factory",
                "AIOUNIT_LOOP_DEBUG": "1",
                "AIOUNIT_TIMEOUT": "2.5",
            },
        )

    def test_an_explicit_off_is_exported_too(self) -> None:
        self.write("setup.cfg", "[aiounit]\nloop_debug = false\ntimeout = none\n")
        self.assertEqual(
            config.environment_for(self.resolve()),
            {"AIOUNIT_LOOP_DEBUG": "0", "AIOUNIT_TIMEOUT": "none"},
        )

    def test_nothing_is_exported_by_default(self) -> None:
        self.assertEqual(config.environment_for(self.resolve()), {})

    def test_every_key_has_its_environment_variable(self) -> None:
        for name, key in config.KEYS.items():
            self.assertEqual(key.env, "AIOUNIT_" + name.upper())
            self.assertEqual(config.option_name(name), "--" + name.replace("_", "-"))


class Documentation(unittest.TestCase):
    def test_every_key_is_documented_with_its_variable_and_option(self) -> None:
        reference = (
            Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
        ).read_text(encoding="utf-8")
        rows = {
            line.split("|")[1].strip(): line
            for line in reference.splitlines()
            if line.startswith("| `")
        }
        for name, key in config.KEYS.items():
            with self.subTest(key=name):
                row = rows[f"`{name}`"]
                self.assertIn(f"`{key.env}`", row)
                self.assertIn(f"`{config.option_name(name)}`", row)


class Parsers(unittest.TestCase):
    def test_loop_names(self) -> None:
        for good in ("asyncio", "uvloop", " asyncio ", "pkg.mod:make", "m:factory.create"):
            self.assertEqual(config.parse_loop(good), good.strip())
        for bad in ("", "tokio", "pkg.mod", ":make", "pkg.mod:", "pkg mod:make", "a:b:c", "1pkg:x"):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                config.parse_loop(bad)

    def test_yes_and_no(self) -> None:
        for text in ("1", "true", "YES", "on", True):
            self.assertIs(config.parse_bool(text), True)
        for text in ("0", "false", "No", "off", False):
            self.assertIs(config.parse_bool(text), False)
        for bad in ("", "maybe", 1, None):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                config.parse_bool(bad)

    def test_numbers(self) -> None:
        self.assertEqual(config.parse_timeout("0.5"), 0.5)
        self.assertEqual(config.parse_timeout(3), 3.0)
        self.assertEqual(config.parse_timeout(" None "), math.inf)
        self.assertEqual(config.parse_count("12"), 12)
        self.assertEqual(config.parse_count(0), 0)
        for bad in ("nan", "inf", "-0.5", "0", 0, True):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                config.parse_timeout(bad)
        for bad in ("-1", "1.0", "", True, 2.0):
            with self.subTest(bad=bad), self.assertRaises(ValueError):
                config.parse_count(bad)


if __name__ == "__main__":
    unittest.main()
