"""Delta Lake and Iceberg tables (detector/lake.py): written here by the real libraries from the bundled sample,
they must give the same alerts as the sample's plain Parquet; what a file list cannot read exactly is refused."""

from __future__ import annotations

import glob
import json
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import SCHEMAS, invoke

from detector import lake, sources
from detector.api import run_rule
from detector.errors import RuleError, SourceError
from detector.paths import sql_root
from detector.rule import load_folder

deltalake = pytest.importorskip("deltalake", reason="deltalake is the [lake] extra")
pytest.importorskip("pyiceberg", reason="pyiceberg is the [lake] extra")

SEED = "supply_chain_network_connections"
SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
NOW = "2026-11-20T12:00:00Z"  # the sample's now
SHORT = {"lookback": "3d", "prevalence_window": "2d"}  # a window that leaves most of the sample's days out
DAYS = sorted(glob.glob(str(SAMPLE / "DeviceNetworkEvents" / "date=*" / "*.parquet")))


def day_tables() -> list[pa.Table]:
    """The sample's network events, one table per day, in the columns the tests' helpers write."""
    schema = SCHEMAS["DeviceNetworkEvents"]
    return [pq.read_table(f, columns=schema.names).cast(schema) for f in DAYS]


def run(**kwargs):
    kwargs.setdefault("data", SAMPLE)
    return run_rule(SEED, now=kwargs.pop("now", NOW), **kwargs)


@pytest.fixture(scope="module")
def plain():
    return run()


@pytest.fixture(scope="module")
def delta(tmp_path_factory):
    """lake/DeviceInfo and lake/DeviceNetworkEvents as Delta tables. The events' history: v0 every day; v1 an
    overwrite with the first 4 days (v0's file is removed); then one commit per remaining day, the last adding a
    column (schema_mode="merge"); then ghost rows appended and deleted. The current snapshot is the sample."""
    root = tmp_path_factory.mktemp("lake")
    events, days = root / "DeviceNetworkEvents", day_tables()
    deltalake.write_deltalake(events, pa.concat_tables(days))
    time.sleep(0.05)  # distinct commit timestamps, for time travel by timestamp
    deltalake.write_deltalake(events, pa.concat_tables(days[:4]), mode="overwrite")
    time.sleep(0.05)
    for day in days[4:-1]:
        deltalake.write_deltalake(events, day, mode="append")
    extra = days[-1].append_column("ExtraColumn", pa.array(["x"] * days[-1].num_rows))
    deltalake.write_deltalake(events, extra, mode="append", schema_mode="merge")
    ghost = days[-1].set_column(2, "DeviceName", pa.array(["ghost"] * days[-1].num_rows))
    ghost = ghost.append_column("ExtraColumn", pa.nulls(ghost.num_rows, pa.string()))
    deltalake.write_deltalake(events, ghost, mode="append")
    deltalake.DeltaTable(events).delete("DeviceName = 'ghost'")
    deltalake.write_deltalake(root / "DeviceInfo", pq.read_table(SAMPLE / "DeviceInfo" / "part-0.parquet"))
    return root


def test_delta_current_snapshot_gives_the_parquet_alerts(delta, plain):
    table = deltalake.DeltaTable(delta / "DeviceNetworkEvents")
    assert "ExtraColumn" in table.schema().to_arrow().names  # the schema did change
    got = run(tables={"DeviceNetworkEvents": f"delta:{delta / 'DeviceNetworkEvents'}"})
    assert got == plain and got
    # The folder also holds the files the log removed: read as plain Parquet, they change the alerts.
    every_file = str(delta / "DeviceNetworkEvents" / "*.parquet")
    assert run(tables={"DeviceNetworkEvents": every_file}) != plain


def test_data_folder_with_delta_log_is_read_as_delta(delta):
    lake_run = invoke("run", "--data", delta, "--now", NOW, "--format", "json")
    plain_run = invoke("run", "--data", SAMPLE, "--now", NOW, "--format", "json")
    assert lake_run.exit_code == 0, lake_run.output
    assert lake_run.stdout == plain_run.stdout and json.loads(lake_run.stdout)


def test_time_travel_by_version_and_by_timestamp(delta, plain):
    path = delta / "DeviceNetworkEvents"
    first_days = {"DeviceNetworkEvents": str(SAMPLE / "DeviceNetworkEvents" / "date=2026-11-0[6-9]" / "*.parquet")}
    v1 = run(tables=first_days, now="2026-11-10T00:00:00Z")
    assert v1 != run(now="2026-11-10T00:00:00Z", tables={"DeviceNetworkEvents": f"delta:{path}"})
    assert run(tables={"DeviceNetworkEvents": f"delta:{path}@1"}, now="2026-11-10T00:00:00Z") == v1
    # A commit's time is its log file's modification time (the Delta protocol's).
    at = datetime.fromtimestamp((path / "_delta_log" / f"{1:020d}.json").stat().st_mtime, UTC).isoformat()
    assert run(tables={"DeviceNetworkEvents": f"delta:{path}@{at}"}, now="2026-11-10T00:00:00Z") == v1
    assert run(tables={"DeviceNetworkEvents": f"delta:{path}@0"}) == plain


@pytest.fixture
def corrupt_delta(delta, tmp_path):
    """A copy of the Delta tables whose oldest events file (2026-11-06 to 09) is no longer Parquet."""
    copy = tmp_path / "lake"
    shutil.copytree(delta, copy)
    table = deltalake.DeltaTable(copy / "DeviceNetworkEvents")
    actions = pa.table(table.get_add_actions(flatten=True)).to_pylist()
    oldest = min(actions, key=lambda a: a["max.Timestamp"])
    assert oldest["max.Timestamp"] < datetime(2026, 11, 10, tzinfo=UTC)
    (copy / "DeviceNetworkEvents" / oldest["path"]).write_bytes(b"PAR1 not really parquet PAR1")
    return copy


def test_pruning_skips_old_files_and_never_changes_results(corrupt_delta, delta):
    short = run(params=SHORT)
    assert short != run()  # the short window does leave rows out
    assert run(data=delta, params=SHORT) == short
    assert run(data=corrupt_delta, params=SHORT) == short  # the corrupt old file is never opened
    assert run(data=corrupt_delta, params=SHORT, now="latest") == run(params=SHORT, now="latest")
    with pytest.raises(SourceError):  # while the default 14-day lookback must read it
        run(data=corrupt_delta)


def test_prune_keeps_files_without_statistics_and_the_edge():
    since = datetime(2026, 11, 20, tzinfo=UTC)
    files = ["old", "edge", "unknown", "new"]
    newest = [since - timedelta(days=3), since - lake.MARGIN, None, since]
    assert lake.prune(files, newest, since) == ["edge", "unknown", "new"]
    assert lake.prune(["a", "b"], [since - timedelta(days=9), since - timedelta(days=5)], since) == ["b"]
    rule = load_folder(sql_root() / SEED)
    table = sources.Table("DeviceNetworkEvents", "x", tuple(files), tuple(newest))
    values = {"lookback": timedelta(days=1), "prevalence_window": None}  # an unset window: nothing is pruned
    assert sources.prune(rule, {table.name: table}, since, values)[table.name] == table
    values["prevalence_window"] = timedelta(0)
    assert sources.prune(rule, {table.name: table}, since, values)[table.name].files == ("edge", "unknown", "new")


def test_explain_reads_every_file(corrupt_delta):
    result = invoke("explain", "--data", corrupt_delta, "--now", NOW, "--lookback", "3d", "--prevalence-window", "2d")
    assert result.exit_code == 2 and "error:" in result.stderr and "Traceback" not in result.output


def test_spark_reads_the_same_delta_files(delta, plain):
    from detector.engines import spark as spark_engine

    reason = spark_engine.unavailable()
    if reason:
        pytest.skip(reason)
    got = run(data=delta, engine="spark")
    assert json.dumps(got, default=str, sort_keys=True) == json.dumps(plain, default=str, sort_keys=True)


def test_clickhouse_reads_the_same_delta_files(delta, plain):
    pytest.importorskip("chdb")
    assert run(data=delta, engine="clickhouse", params=SHORT) == run(params=SHORT)


# ---- Iceberg ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iceberg(tmp_path_factory):
    """An SQL catalog (sqlite) with defender.DeviceNetworkEvents: one append per day, a column added before the
    last. Returns the catalog URI."""
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.types import StringType

    root = tmp_path_factory.mktemp("iceberg")
    uri = f"sqlite:///{root / 'catalog.db'}"
    catalog = SqlCatalog("lakehouse", uri=uri, warehouse=(root / "warehouse").as_uri())
    catalog.create_namespace("defender")
    days = day_tables()
    table = catalog.create_table("defender.DeviceNetworkEvents", schema=days[0].schema)
    for day in days[:-1]:
        table.append(day)
    with table.update_schema() as update:
        update.add_column("ExtraColumn", StringType())
    table.append(days[-1].append_column("ExtraColumn", pa.array(["x"] * days[-1].num_rows)))
    return uri


def test_iceberg_gives_the_parquet_alerts_and_prunes(iceberg, plain):
    spec = f"iceberg:{iceberg}#defender.DeviceNetworkEvents"
    assert run(tables={"DeviceNetworkEvents": spec}) == plain
    files, newest = lake.resolve("DeviceNetworkEvents", spec, ["Timestamp"], "Timestamp")
    assert len(files) == len(DAYS) and all(n is not None for n in newest)
    oldest = min(zip(newest, files, strict=True))[1]
    saved = Path(oldest).read_bytes()
    Path(oldest).write_bytes(b"PAR1 not really parquet PAR1")
    try:
        assert run(tables={"DeviceNetworkEvents": spec}, params=SHORT) == run(params=SHORT)
        with pytest.raises(SourceError):
            run(tables={"DeviceNetworkEvents": spec})
    finally:
        Path(oldest).write_bytes(saved)


def _iceberg_with(tmp_path, change) -> str:
    from pyiceberg.catalog.sql import SqlCatalog

    tmp_path.mkdir()
    uri = f"sqlite:///{tmp_path / 'catalog.db'}"
    catalog = SqlCatalog("c", uri=uri, warehouse=(tmp_path / "wh").as_uri())
    catalog.create_namespace("defender")
    first = day_tables()[-1]
    schema = first.schema.set(first.schema.get_field_index("RemoteUrl"), pa.field("Url", pa.string()))
    table = catalog.create_table("defender.DeviceNetworkEvents", schema=schema)
    table.append(first.rename_columns(schema.names))
    with table.update_schema() as update:
        change(update)
    return f"iceberg:{uri}#defender.DeviceNetworkEvents"


def test_iceberg_renamed_or_dropped_columns_are_refused(tmp_path):
    renamed = _iceberg_with(tmp_path / "a", lambda u: u.rename_column("Url", "RemoteUrl"))
    with pytest.raises(SourceError, match=r"column RemoteUrl was renamed \(from Url\)"):
        run(tables={"DeviceNetworkEvents": renamed})
    dropped = _iceberg_with(tmp_path / "b", lambda u: u.delete_column("Url"))
    assert lake.resolve("T", dropped, ["Timestamp", "RemoteIP"])[0]  # a dropped column the rule never reads is fine
    with pytest.raises(SourceError, match="column Url was dropped"):
        lake.resolve("T", dropped, ["Url"])


# ---- Spark's plain folders ---------------------------------------------------------------------------------------


def test_parquet_folder_written_by_spark_with_marker_files(tmp_path, plain):
    folder = tmp_path / "DeviceNetworkEvents"
    (folder / "_temporary" / "0").mkdir(parents=True)
    for i, path in enumerate(DAYS):
        name = f"part-{i:05d}-0c1d-c000.snappy.parquet"
        shutil.copy(path, folder / name)
        (folder / f".{name}.crc").write_bytes(b"crc")
    for marker in ("_SUCCESS", "_committed_4711", "_started_4711", "._SUCCESS.crc"):
        (folder / marker).write_bytes(b"")
    (folder / "_temporary" / "0" / "part-00099.snappy.parquet").write_bytes(b"an unfinished task's file")
    assert run(tables={"DeviceNetworkEvents": str(folder)}) == plain


# ---- on S3 -------------------------------------------------------------------------------------------------------


def test_delta_on_s3(delta, plain, monkeypatch):
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is a dev dependency")
    pytest.importorskip("s3fs", reason="s3fs is the [s3] extra")
    import boto3

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    forget_s3_clients()
    try:
        host, port = server.get_host_and_port()
        env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
        for key, value in {**env, "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}"}.items():
            monkeypatch.setenv(key, value)
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="lake")
        for path in (delta / "DeviceNetworkEvents").rglob("*"):
            if path.is_file():
                s3.upload_file(str(path), "lake", f"events/{path.relative_to(delta / 'DeviceNetworkEvents')}")
        assert run(tables={"DeviceNetworkEvents": "delta:s3://lake/events"}) == plain
        assert run(tables={"DeviceNetworkEvents": "s3://lake/events"}) == plain  # recognised by its _delta_log/
    finally:
        server.stop()
        forget_s3_clients()


def forget_s3_clients():
    """s3fs clients are cached (by fsspec, and per protocol in detector.storage) with this server's endpoint."""
    import s3fs

    from detector import storage

    storage._filesystem.cache_clear()
    s3fs.S3FileSystem.clear_instance_cache()


# ---- refused and bad input ---------------------------------------------------------------------------------------


def refused(*table: str) -> str:
    args = [a for t in table for a in ("--table", t)]
    result = invoke("run", "--data", SAMPLE, "--now", NOW, *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return result.stderr.strip()


def test_bad_delta_inputs(delta, tmp_path):
    events = delta / "DeviceNetworkEvents"
    assert refused(f"DeviceNetworkEvents=delta:{SAMPLE / 'DeviceNetworkEvents'}") == (
        f"error: table DeviceNetworkEvents: delta:{SAMPLE / 'DeviceNetworkEvents'}: not a Delta table "
        "(no _delta_log/ folder)"
    )
    message = refused(f"DeviceNetworkEvents=delta:{events}@99")
    assert message.startswith(f"error: table DeviceNetworkEvents: delta:{events}: has no version 99 (versions 0..")
    message = refused(f"DeviceNetworkEvents=delta:{events}@2001-01-01T00:00:00Z")
    assert message.startswith(f"error: table DeviceNetworkEvents: delta:{events}: has no version at 2001")
    assert "neither a version number nor an ISO-8601 instant" in refused(f"DeviceNetworkEvents=delta:{events}@soon")
    mapped = tmp_path / "mapped"
    deltalake.write_deltalake(mapped, day_tables()[0], configuration={"delta.columnMapping.mode": "name"})
    assert "uses column mapping (mode name)" in refused(f"DeviceNetworkEvents=delta:{mapped}")
    by_device = tmp_path / "by_device"
    deltalake.write_deltalake(by_device, day_tables()[0], partition_by=["DeviceName"])
    assert "is partitioned by DeviceName, a column the rule reads" in refused(f"DeviceNetworkEvents={by_device}")


def test_a_partition_column_the_rule_does_not_read_is_fine(tmp_path):
    days = day_tables()
    events = pa.concat_tables(days)
    dated = events.append_column("date", pa.compute.strftime(events["Timestamp"], "%Y-%m-%d"))
    deltalake.write_deltalake(tmp_path / "events", dated, partition_by=["date"])
    assert run(tables={"DeviceNetworkEvents": f"delta:{tmp_path / 'events'}"}, params=SHORT) == run(params=SHORT)


def test_bad_iceberg_inputs(iceberg, tmp_path):
    missing = tmp_path / "nope.db"
    assert refused(f"DeviceNetworkEvents=iceberg:sqlite:///{missing}#defender.T") == (
        f"error: table DeviceNetworkEvents: iceberg:sqlite:///{missing}#defender.T: no such catalog file {missing}"
    )
    assert not missing.exists()
    assert refused(f"DeviceNetworkEvents=iceberg:{iceberg}#defender.Nope") == (
        f"error: table DeviceNetworkEvents: iceberg:{iceberg}#defender.Nope: the catalog has no table defender.Nope"
    )
    assert "the catalog has no table other.DeviceNetworkEvents" in refused(
        f"DeviceNetworkEvents=iceberg:{iceberg}#other.DeviceNetworkEvents"
    )
    assert "write iceberg:CATALOG_URI#namespace.table" in refused(f"DeviceNetworkEvents=iceberg:{iceberg}")
    assert "ConnectionError" in refused("DeviceNetworkEvents=iceberg:http://127.0.0.1:9#defender.T")


def test_the_lake_libraries_load_only_for_lake_tables_and_their_absence_is_named(tmp_path):
    code = (
        "import sys; from detector.api import run_rule; "
        f"run_rule({SEED!r}, data={str(SAMPLE)!r}, now={NOW!r}); "
        "print(sorted(m for m in ('deltalake', 'pyiceberg') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = (
        "import sys; sys.modules['deltalake'] = None; from detector.api import run_rule; "
        f"run_rule({SEED!r}, data={str(SAMPLE)!r}, tables={{'DeviceNetworkEvents': 'delta:/x'}}, now={NOW!r})"
    )
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stderr
    assert "SourceError: table DeviceNetworkEvents: reading Delta Lake and Iceberg tables needs deltalake: " in err
    assert "pip install 'kql-detector[lake]'" in err


# ---- rule.toml `since` -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "message"),
    [
        ('"max_vendor_servers"', "[tables.DeviceInfo] since: 'max_vendor_servers' is not a duration parameter"),
        ('"nope"', "[tables.DeviceInfo] since: 'nope' is not a duration parameter"),
        ("[]", "[tables.DeviceInfo] since must name duration parameters"),
        ('"lookback"\ntime = "DeviceName"', "[tables.DeviceInfo] time 'DeviceName' is not a datetime column"),
    ],
)
def test_since_is_validated(tmp_path, since, message):
    folder = tmp_path / SEED
    shutil.copytree(sql_root() / SEED, folder)
    toml = folder / "rule.toml"
    text = toml.read_text().replace('time = "Timestamp"\nsince = "lookback"', f"since = {since}")
    toml.write_text(text)
    with pytest.raises(RuleError) as err:
        load_folder(folder)
    assert f"rule {SEED}: {toml}" in str(err.value) and message in str(err.value)


def test_since_needs_the_time_column(tmp_path):
    folder = tmp_path / SEED
    shutil.copytree(sql_root() / SEED, folder)
    toml = folder / "rule.toml"
    toml.write_text(toml.read_text().replace('time = "Timestamp"\nsince = "lookback"', 'since = "lookback"'))
    with pytest.raises(RuleError, match=r"\[tables.DeviceInfo\] since needs the table's time column"):
        load_folder(folder)


def test_every_rule_declares_since_on_its_windowed_tables():
    from detector.rule import load_all

    rules, broken = load_all()
    assert not broken
    assert {slug: rule.since for slug, rule in rules.items()} == {
        "rogue_rdp_file_creation": {"DeviceNetworkEvents": ("query_period",), "DeviceFileEvents": ("query_period",)},
        "server_network_connection_anomalies": {"DeviceNetworkEvents": ("lookback", "recent")},
        SEED: {"DeviceInfo": ("lookback",), "DeviceNetworkEvents": ("lookback", "prevalence_window")},
    }
