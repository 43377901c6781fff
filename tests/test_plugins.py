"""The plugin loader, driven by real distributions on disk found through entry points."""

from __future__ import annotations

import sys
import textwrap
import uuid
import warnings
from pathlib import Path

import pytest

from nanobot_core.deprecations import Deprecation, PluginDeprecationWarning, hook_warning
from nanobot_core.hookspecs import hookspec
from nanobot_core.plugins import DEFAULT_PLUGINS, ENV_ALLOW, GROUP, PluginInfo, Plugins
from nanobot_core.registry import Kind

GOOD = """
from nanobot_core import hookimpl

class Model:
    async def complete(self, request):
        raise NotImplementedError

@hookimpl
def register_chat_models(register):
    register("{name}", lambda config, host: Model())
"""


class Dists:
    """Writes installed-looking distributions into one directory on ``sys.path``."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch
        monkeypatch.syspath_prepend(str(root))

    def add(
        self,
        ep_name: str,
        source: str,
        *,
        requires: tuple[str, ...] = ("nanobot-core>=0.1,<0.2",),
        dist: str | None = None,
    ) -> str:
        """Install a plugin whose entry point ``ep_name`` is a fresh module; return its name."""
        module = f"nbtest_{ep_name}_{uuid.uuid4().hex[:8]}"
        dist = dist or f"nanobot-test-{ep_name}"
        (self.root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        info = self.root / f"{dist.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir()
        metadata = [
            "Metadata-Version: 2.1",
            f"Name: {dist}",
            "Version: 1.2.3",
            *(f"Requires-Dist: {r}" for r in requires),
        ]
        (info / "METADATA").write_text("\n".join(metadata) + "\n", encoding="utf-8")
        (info / "entry_points.txt").write_text(
            f"[{GROUP}]\n{ep_name} = {module}\n", encoding="utf-8"
        )
        self.monkeypatch.delitem(sys.modules, module, raising=False)
        return module


@pytest.fixture
def dists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dists:
    root = tmp_path / "site"
    root.mkdir()
    return Dists(root, monkeypatch)


def only(*names: str) -> dict[str, str]:
    """An environment that loads just these entry points (the installed ones stay out)."""
    return {ENV_ALLOW: ",".join(names)}


def info(plugins: Plugins, name: str) -> PluginInfo:
    matches = [i for i in plugins.infos if i.name == name]
    assert len(matches) == 1, plugins.infos
    return matches[0]


def test_good_plugin_loads_with_its_distribution_and_hooks(dists: Dists) -> None:
    dists.add("good", GOOD.format(name="goodmodel"))

    plugins = Plugins.load(env={})

    good = info(plugins, "good")
    assert good == PluginInfo(
        name="good",
        distribution="nanobot-test-good",
        version="1.2.3",
        hooks=("register_chat_models",),
    )
    assert good.as_json() == {
        "name": "good",
        "distribution": "nanobot-test-good",
        "version": "1.2.3",
        "hooks": ["register_chat_models"],
        "status": "loaded",
        "error": None,
    }
    registry = plugins.collect()
    assert registry.get(Kind.CHAT_MODEL, "goodmodel") is not None
    assert registry.get(Kind.CHAT_MODEL, "goodmodel").plugin == "good"  # type: ignore[union-attr]


def test_builtins_register_through_the_same_contract() -> None:
    plugins = Plugins.load(env=only())

    names = [module.rsplit(".", 1)[1] for module in DEFAULT_PLUGINS]
    for name in names:
        builtin = info(plugins, name)
        assert builtin.status == "loaded"
        assert builtin.distribution == "nanobot-core"
        assert plugins.pm.get_plugin(name) is sys.modules[f"nanobot_core.builtins.{name}"]
    registry = plugins.collect()
    assert registry.get(Kind.CHAT_MODEL, "echo") is not None
    assert registry.get(Kind.CHANNEL, "console") is not None


def test_plugin_raising_on_import_is_recorded_and_the_others_load(dists: Dists) -> None:
    dists.add("broken", "raise RuntimeError('no API key at import time')\n")
    dists.add("fine", GOOD.format(name="finemodel"))

    plugins = Plugins.load(env=only("broken", "fine"))

    broken = info(plugins, "broken")
    assert broken.status == "failed"
    assert broken.error == "import failed: RuntimeError: no API key at import time"
    assert info(plugins, "fine").status == "loaded"
    assert [f.name for f in plugins.failures()] == ["broken"]
    assert plugins.collect().get(Kind.CHAT_MODEL, "finemodel") is not None


def test_plugin_calling_sys_exit_on_import_does_not_stop_the_loader(dists: Dists) -> None:
    dists.add("exits", "import sys\nsys.exit(3)\n")

    plugins = Plugins.load(env=only("exits"))

    assert info(plugins, "exits").status == "failed"
    assert info(plugins, "exits").error == "import failed: SystemExit: 3"
    assert info(plugins, "echo").status == "loaded"


def test_misspelled_hook_is_an_error_and_the_others_work(dists: Dists) -> None:
    dists.add(
        "typo",
        """
        from nanobot_core import hookimpl

        @hookimpl
        def register_tols(register):
            register("never", lambda config, host: None)
        """,
    )
    dists.add("fine", GOOD.format(name="finemodel"))

    plugins = Plugins.load(env=only("typo", "fine"))

    typo = info(plugins, "typo")
    assert typo.status == "failed"
    assert typo.error == (
        "unknown hook 'register_tols' (did you mean 'register_tools'?): "
        "not a nanobot hook (see docs/hooks.md)"
    )
    assert plugins.pm.get_plugin("typo") is None
    plugins.pm.check_pending()  # the bad plugin left nothing pending behind
    assert info(plugins, "fine").status == "loaded"
    assert plugins.collect().get(Kind.CHAT_MODEL, "finemodel") is not None


def test_hook_with_a_wrong_argument_name_is_recorded(dists: Dists) -> None:
    dists.add(
        "badargs",
        """
        from nanobot_core import hookimpl

        @hookimpl
        def register_tools(reg):
            pass
        """,
    )

    plugins = Plugins.load(env=only("badargs"))

    bad = info(plugins, "badargs")
    assert bad.status == "failed"
    assert "register_tools" in bad.error  # type: ignore[operator]
    assert "reg" in bad.error  # type: ignore[operator]
    assert "\n" not in bad.error  # type: ignore[operator]
    assert info(plugins, "console").status == "loaded"


def test_two_plugins_registering_the_same_name_are_both_named(dists: Dists) -> None:
    dists.add("first", GOOD.format(name="samename"))
    dists.add("second", GOOD.format(name="samename"))

    plugins = Plugins.load(env=only("first", "second"))
    registry = plugins.collect()

    message = "chat model 'samename' is registered by both plugin 'first' and plugin 'second'"
    assert registry.problems == [message]
    assert registry.get(Kind.CHAT_MODEL, "samename").plugin == "first"  # type: ignore[union-attr]
    assert info(plugins, "second").status == "failed"
    assert info(plugins, "second").error == message
    assert info(plugins, "first").status == "loaded"


def test_two_distributions_with_the_same_entry_point_name_are_both_named(dists: Dists) -> None:
    dists.add("twin", GOOD.format(name="twin_a"), dist="nanobot-twin-a")
    dists.add("twin", GOOD.format(name="twin_b"), dist="nanobot-twin-b")

    plugins = Plugins.load(env=only("twin"))

    twins = [i for i in plugins.infos if i.name == "twin"]
    assert [t.status for t in twins] == ["loaded", "failed"]
    failed = twins[1]
    assert failed.distribution is not None
    loaded_dist = twins[0].distribution
    assert failed.error == (
        f"plugin name 'twin' is used by both {loaded_dist} and {failed.distribution}; "
        "only the first loads"
    )


def test_entry_point_cannot_displace_a_builtin(dists: Dists) -> None:
    dists.add("echo", GOOD.format(name="impostor"))

    plugins = Plugins.load(env=only("echo"))

    echoes = [i for i in plugins.infos if i.name == "echo"]
    assert [(e.distribution, e.status) for e in echoes] == [
        ("nanobot-core", "loaded"),
        ("nanobot-test-echo", "failed"),
    ]
    assert echoes[1].error == (
        "plugin name 'echo' is used by both nanobot-core and nanobot-test-echo; "
        "only the first loads"
    )
    registry = plugins.collect()
    assert registry.get(Kind.CHAT_MODEL, "echo").plugin == "echo"  # type: ignore[union-attr]
    assert registry.get(Kind.CHAT_MODEL, "impostor") is None


def test_entry_point_registering_a_builtin_name_is_the_one_reported(dists: Dists) -> None:
    dists.add("myecho", GOOD.format(name="echo"))

    plugins = Plugins.load(env=only("myecho"))
    registry = plugins.collect()

    message = "chat model 'echo' is registered by both plugin 'echo' and plugin 'myecho'"
    assert registry.problems == [message]
    assert info(plugins, "myecho").error == message
    assert info(plugins, "echo").status == "loaded"


def test_register_hook_that_raises_is_recorded_and_registers_nothing(dists: Dists) -> None:
    dists.add(
        "raiser",
        """
        from nanobot_core import hookimpl

        @hookimpl
        def register_chat_models(register):
            register("halfway", lambda config, host: None)
            raise KeyError("missing setting")

        @hookimpl
        def register_tools(register):
            register("raiser_tool", lambda config, host: None)
        """,
    )
    dists.add("fine", GOOD.format(name="finemodel"))

    plugins = Plugins.load(env=only("raiser", "fine"))
    registry = plugins.collect()

    message = "plugin 'raiser' failed in register_chat_models: KeyError: 'missing setting'"
    assert registry.problems == [message]
    assert registry.get(Kind.CHAT_MODEL, "halfway") is None
    assert registry.get(Kind.TOOL, "raiser_tool") is not None
    assert registry.get(Kind.CHAT_MODEL, "finemodel") is not None
    assert info(plugins, "raiser").status == "failed"
    assert info(plugins, "raiser").error == message
    assert info(plugins, "fine").status == "loaded"


def test_load_plugins_env_loads_only_the_named_entry_points(dists: Dists) -> None:
    a = dists.add("alpha", GOOD.format(name="alpha"))
    dists.add("beta", GOOD.format(name="beta"), dist="nanobot-beta")
    c = dists.add("gamma", "raise RuntimeError('must not be imported')\n")

    plugins = Plugins.load(env=only("alpha", "Nanobot_Beta"))  # entry point or distribution

    assert info(plugins, "alpha").status == "loaded"
    assert info(plugins, "beta").status == "loaded"
    gamma = info(plugins, "gamma")
    assert (gamma.status, gamma.error) == ("blocked", f"not in {ENV_ALLOW}")
    assert c not in sys.modules
    assert a in sys.modules


def test_empty_load_plugins_env_loads_no_entry_points(dists: Dists) -> None:
    module = dists.add("alpha", GOOD.format(name="alpha"))

    plugins = Plugins.load(env={ENV_ALLOW: ""})

    entry_points = [i for i in plugins.infos if i.distribution != "nanobot-core"]
    assert entry_points  # at least ours, shown as blocked
    assert {i.status for i in entry_points} == {"blocked"}
    assert module not in sys.modules
    assert {i.name for i in plugins.infos if i.status == "loaded"} == {"console", "echo", "media"}


def test_load_plugins_env_naming_nothing_installed_is_logged(
    dists: Dists, caplog: pytest.LogCaptureFixture
) -> None:
    dists.add("alpha", GOOD.format(name="alpha"))

    Plugins.load(env=only("alpha", "Nanobot_Test_Alpha", "alhpa"))

    assert [r.getMessage() for r in caplog.records] == [
        f"{ENV_ALLOW} names 'alhpa', but no installed plugin has that name"
    ]


def test_entry_points_can_be_skipped(dists: Dists) -> None:
    dists.add("alpha", GOOD.format(name="alpha"))

    plugins = Plugins.load(entry_points=False)

    assert [i.name for i in plugins.infos] == ["console", "echo", "media"]


def test_extra_plugins_are_registered_after_the_builtins() -> None:
    class Extra:
        from nanobot_core import hookimpl

        @hookimpl
        def register_tools(self, register):  # type: ignore[no-untyped-def]
            register("extra_tool", lambda config, host: None)

    plugins = Plugins.load(entry_points=False, extra=(Extra(),))

    assert plugins.infos[-1] == PluginInfo(
        name="Extra", distribution=None, version=None, hooks=("register_tools",)
    )
    assert plugins.collect().get(Kind.TOOL, "extra_tool") is not None


# Deprecations, pluggy's way: a deprecated hook and a deprecated hook argument.

OLD_HOOK = """
from nanobot_core import hookimpl

class Model:
    async def complete(self, request):
        raise NotImplementedError

@hookimpl
def register_models(register):
    register("oldstyle", lambda config, host: Model())
"""


def test_deprecated_hook_still_loads_and_warns_once_with_the_plugin_name(dists: Dists) -> None:
    dists.add("oldstyle", OLD_HOOK)

    with pytest.warns(PluginDeprecationWarning) as caught:
        plugins = Plugins.load(env=only("oldstyle"))
        registry = plugins.collect()
        registry_again = plugins.collect()

    assert [str(w.message) for w in caught] == [
        "plugin 'oldstyle': hook 'register_models' is deprecated since plugin API 1.0 and "
        "will be removed in 2.0: use 'register_chat_models' instead (see docs/compatibility.md)"
    ]
    assert caught[0].filename.endswith(".py")
    assert "nbtest_oldstyle_" in caught[0].filename  # points at the plugin's own code
    assert info(plugins, "oldstyle").status == "loaded"
    assert info(plugins, "oldstyle").hooks == ("register_models",)
    for reg in (registry, registry_again):
        assert reg.get(Kind.CHAT_MODEL, "oldstyle").plugin == "oldstyle"  # type: ignore[union-attr]


def test_deprecated_hook_warns_once_per_plugin(dists: Dists) -> None:
    dists.add("old_a", OLD_HOOK.replace("oldstyle", "old_a"))
    dists.add("old_b", OLD_HOOK.replace("oldstyle", "old_b"))

    with pytest.warns(PluginDeprecationWarning) as caught:
        Plugins.load(env=only("old_a", "old_b"))

    assert sorted(w.message.plugin for w in caught) == ["old_a", "old_b"]  # type: ignore[union-attr]


RENAMED = Deprecation(subject="example_hook argument", old="group", new="cli", since="1.0")


class ArgSpecs:
    """A hook whose argument was renamed, declared the way hookspecs.py would declare it."""

    @hookspec(warn_on_impl_args={"group": hook_warning(RENAMED)})
    def example_hook(self, cli: object, group: object) -> None:
        """``group`` is the old name of ``cli``."""


def test_deprecated_hook_argument_warns_once_with_the_plugin_name(dists: Dists) -> None:
    from nanobot_core import hookimpl

    class Old:
        @hookimpl
        def example_hook(self, group):  # type: ignore[no-untyped-def]
            return ("old", group)

    class New:
        @hookimpl
        def example_hook(self, cli):  # type: ignore[no-untyped-def]
            return ("new", cli)

    plugins = Plugins.load(entry_points=False)
    plugins.pm.add_hookspecs(ArgSpecs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert plugins.add(New(), name="new_plugin")
        assert plugins.add(Old(), name="old_plugin")

    assert [(w.category, str(w.message)) for w in caught] == [
        (
            PluginDeprecationWarning,
            "plugin 'old_plugin': example_hook argument 'group' is deprecated since plugin "
            "API 1.0 and will be removed in 2.0: use 'cli' instead (see docs/compatibility.md)",
        )
    ]
    results = plugins.pm.hook.example_hook(cli="the group", group="the group")
    assert sorted(results) == [("new", "the group"), ("old", "the group")]


def test_other_warnings_during_registration_pass_through() -> None:
    from nanobot_core import hookimpl

    class Noisy:
        @hookimpl
        def register_tools(self, register):  # type: ignore[no-untyped-def]
            pass

    plugins = Plugins.load(entry_points=False)
    plugins.pm.add_hookspecs(NoisySpecs)
    with pytest.warns(UserWarning, match="noisy spec"):
        plugins.add(NoisyImpl(), name="noisy")
    assert plugins.add(Noisy(), name="quiet")


class NoisySpecs:
    @hookspec(warn_on_impl=UserWarning("noisy spec"))
    def noisy_hook(self) -> None:
        """A hook whose implementations warn with a plain warning."""


class NoisyImpl:
    from nanobot_core import hookimpl

    @hookimpl
    def noisy_hook(self) -> None:
        pass


def test_deprecation_as_error_fails_that_plugin_alone(dists: Dists) -> None:
    dists.add("oldstyle", OLD_HOOK)
    dists.add("fine", GOOD.format(name="finemodel"))

    with warnings.catch_warnings():
        warnings.simplefilter("error", PluginDeprecationWarning)
        plugins = Plugins.load(env=only("oldstyle", "fine"))

    old = info(plugins, "oldstyle")
    assert old.status == "failed"
    assert old.error is not None
    assert old.error.startswith("plugin 'oldstyle': hook 'register_models' is deprecated")
    assert plugins.pm.get_plugin("oldstyle") is None
    assert info(plugins, "fine").status == "loaded"
    assert plugins.collect().get(Kind.CHAT_MODEL, "oldstyle") is None
