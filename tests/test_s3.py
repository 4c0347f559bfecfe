"""Data-lake paths: `--data s3://bucket/prefix` and `--table NAME=s3://...`, against a local S3-compatible server
(moto in server mode on loopback, started and stopped here). Reading goes through fsspec's s3fs, registered with
DuckDB, so no DuckDB extension is downloaded at run time."""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import pytest
from conftest import NOW, conn, device
from helpers import write_fleet, write_table
from typer.testing import CliRunner

from detector.api import run_rule
from detector.cli import app
from detector.errors import SourceError

moto_server = pytest.importorskip("moto.server", reason="moto[server] is a dev dependency")
pytest.importorskip("s3fs", reason="s3fs is the [s3] extra")

ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def bucket(tmp_path_factory):
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = {k: os.environ.get(k) for k in [*ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update(ENV, AWS_ENDPOINT_URL=f"http://{host}:{port}")
    try:
        import boto3

        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="lake")
        local = tmp_path_factory.mktemp("lake")
        flat = write_fleet(local / "flat", [device("srv")], [conn("srv")])
        for path in flat.iterdir():
            s3.upload_file(str(path), "lake", f"defender/{path.name}")
        for day, ago in (("2026-11-19", timedelta(hours=20)), ("2026-11-20", timedelta(hours=2))):
            part = write_table(local / day, "DeviceNetworkEvents", [conn("srv", ago=ago)])
            s3.upload_file(str(part), "lake", f"hive/DeviceNetworkEvents/date={day}/part-0.parquet")
        yield "lake"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_data_prefix_on_s3(bucket):
    [record] = run_rule("supply_chain_network_connections", data=f"s3://{bucket}/defender", now=NOW)
    assert record["DeviceName"] == "srv" and record["set_Details"][0]["RemoteIP"] == "203.0.113.10"


def test_table_mappings_on_s3_with_hive_folders_and_globs(bucket):
    tables = {
        "DeviceInfo": f"s3://{bucket}/defender/DeviceInfo.parquet",
        "DeviceNetworkEvents": f"s3://{bucket}/hive/DeviceNetworkEvents",
    }
    [record] = run_rule("supply_chain_network_connections", tables=tables, now=NOW)
    assert record["set_Details"][0]["Count"] == 2
    tables["DeviceNetworkEvents"] = f"s3://{bucket}/hive/DeviceNetworkEvents/date=*/*.parquet"
    assert run_rule("supply_chain_network_connections", tables=tables, now=NOW)[0]["set_Details"][0]["Count"] == 2


def test_cli_on_s3_and_a_missing_prefix(bucket):
    result = CliRunner().invoke(
        app,
        [
            "run",
            "supply_chain_network_connections",
            "--data",
            f"s3://{bucket}/defender",
            "--now",
            "2026-11-20T12:00:00Z",
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"DeviceName":"srv"' in result.stdout
    missing = CliRunner().invoke(
        app,
        [
            "run",
            "supply_chain_network_connections",
            "--data",
            f"s3://{bucket}/nothing-here",
            "--now",
            "2026-11-20T12:00:00Z",
        ],
    )
    assert missing.exit_code == 2
    assert f"--data s3://{bucket}/nothing-here: no such folder" in missing.stderr


def test_missing_table_on_s3_names_both_places(bucket):
    with pytest.raises(SourceError, match=r"table DeviceInfo: neither s3://lake/hive/DeviceInfo.parquet nor a folder"):
        run_rule("supply_chain_network_connections", data=f"s3://{bucket}/hive", now=NOW)


def test_state_on_s3(bucket):
    """`--state s3://...`: the same records, the summaries kept there and reused by the next run."""
    from detector import incremental
    from detector.rule import load_rule

    rule = load_rule("supply_chain_network_connections")
    tables = {
        "DeviceInfo": f"s3://{bucket}/defender/DeviceInfo.parquet",
        "DeviceNetworkEvents": f"s3://{bucket}/hive/DeviceNetworkEvents",
    }
    expected = run_rule(rule, tables=tables, now=NOW)
    counts = []
    for _ in range(2):
        report = incremental.Report()
        with incremental.run(rule, state_dir=f"s3://{bucket}/state", tables=tables, now=NOW, report=report) as result:
            assert result.table.to_pylist() == expected
        counts.append(report.partials["outbound"])
        assert report.notes == []
    assert (counts[0].computed, counts[1].reused, counts[1].computed) == (2, 2, 0)
    import boto3

    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="state/")["Contents"]]
    assert "state/supply_chain_network_connections/state.json" in keys
    assert not any(k.endswith("/lock") for k in keys)  # released
