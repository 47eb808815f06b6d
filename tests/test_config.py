"""Config validation stops a run at once with the key and the reason."""

from __future__ import annotations

import pytest
import yaml
from breastcurate.config import ConfigError, load_config
from conftest import REPO, call_cli, snakemake, write_config


def _config(tmp_path, mutate):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    mutate(config)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c.update(n_shard=3), "Additional properties are not allowed ('n_shard'"),
        (lambda c: c.update(n_shards=0), "'n_shards': 0 is less than the minimum of 1"),
        (lambda c: c["datasets"]["duke"].update(source="ftp"), "'datasets.duke.source': 'ftp' is not one of"),
        (lambda c: c["datasets"].update(mias={"source": "demo"}), "'datasets.mias': unknown dataset"),
        (lambda c: c["datasets"].update(duke={"source": "local"}), "'datasets.duke': 'path' is a required property"),
    ],
)
def test_invalid_config_names_key_and_reason(tmp_path, mutate, message):
    path = _config(tmp_path, mutate)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)
    proc = call_cli("check-config", str(path), check=False)
    assert proc.returncode == 1 and message in proc.stderr


def test_defaults_filled():
    config = load_config()
    assert config["shard_salt"] and config["demo"]["patients"] == 6


@pytest.mark.e2e
def test_snakemake_stops_on_invalid_config(tmp_path):
    write_config(tmp_path, n_shards=-1)
    proc = snakemake(tmp_path, "-n", check=False)
    assert proc.returncode != 0
    assert "n_shards" in proc.stdout + proc.stderr and "minimum" in proc.stdout + proc.stderr
