from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import DEFAULT_PORT, config_from_dict, default_config_path, load_config
from agent.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_config_defaults_without_file(isolated_home: Path) -> None:
    config = load_config(None, environ={})
    assert config.api.port == DEFAULT_PORT
    assert config.api.allowed_origins == [] and config.api.tokens == []
    assert config.source is None
    assert str(default_config_path()).startswith(str(isolated_home))
    assert str(config.store.path).startswith(str(isolated_home))


def test_config_reads_default_file_in_user_config_dir(isolated_home: Path) -> None:
    path = default_config_path()
    path.parent.mkdir(parents=True)
    write(path, '[api]\nport = 9100\nallowed_origins = ["https://lgc.example"]\n[log]\nlevel = "debug"\n')
    config = load_config(None, environ={})
    assert config.api.port == 9100
    assert config.api.allowed_origins == ["https://lgc.example"]
    assert config.log.level == "DEBUG"
    assert config.source == path


def test_config_explicit_file_overrides_and_env_wins(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", '[api]\nport = 9100\n[store]\npath = "/tmp/x.db"\n')
    config = load_config(path, environ={"VIGIE_API_PORT": "9200", "VIGIE_API_ALLOWED_ORIGINS": "http://a, http://b:1",
                                        "VIGIE_STORE_FSYNC": "oui", "VIGIE_DISABLED_PLUGINS": "dmp,mss"})
    assert config.api.port == 9200
    assert config.api.allowed_origins == ["http://a", "http://b:1"]
    assert config.store.fsync is True
    assert config.store.path == Path("/tmp/x.db")
    assert config.disabled_plugins == ["dmp", "mss"]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[api]\nport = \"abc\"\n", "api.port"),
        ("[api]\nprot = 1\n", "api.prot"),
        ("[api]\nport = 70000\n", "api.port"),
        ("[api]\nallowed_origins = \"http://a\"\n", "api.allowed_origins"),
        ("[api]\nallowed_origins = [\"http://a/\"]\n", "api.allowed_origins"),
        ("[api]\ntokens = [\"short\"]\n", "api.tokens"),
        ("[log]\nlevel = \"LOUD\"\n", "log.level"),
        ("[store]\nfsync = 1\n", "store.fsync"),
        ("[mystery]\na = 1\n", "mystery"),
        ("disabled_plugins = \"dmp\"\n", "disabled_plugins"),
    ],
)
def test_config_invalid_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path / "bad.toml", text), environ={})
    assert info.value.key == key
    assert key in str(info.value)
    assert info.value.message_fr and info.value.message_en


def test_config_invalid_env_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, environ={"VIGIE_API_PORT": "huit"})
    assert "VIGIE_API_PORT" in info.value.key


def test_config_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(tmp_path / "absent.toml", environ={})


def test_config_broken_toml_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path / "c.toml", "[api\nport=1"), environ={})
    assert "TOML" in info.value.message_fr


def test_config_plugin_tables_and_services_kept() -> None:
    config = config_from_dict({"plugins": {"ins": {"mode": "mtls"}}, "services": {"insi": "https://x:1/a"}})
    assert config.plugin_settings("ins") == {"mode": "mtls"}
    assert config.plugin_settings("dmp") == {}
    assert config.services == {"insi": "https://x:1/a"}
