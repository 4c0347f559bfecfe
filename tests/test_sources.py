"""Finding and reading the tables: layouts, column types, and errors that name the file and column."""

from __future__ import annotations

import os
from datetime import timedelta

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import NOW, conn, device
from helpers import SCHEMAS, table, write_fleet, write_table

from detector.api import run_rule
from detector.errors import SourceError

ALERT = [{"DeviceName": "srv", "set_Details": [{"RemoteIP": "203.0.113.10", "RemotePort": 443, "Count": 1,
                                               "Prevalence": 1, "URLs": ["update.rare.example"]}]}]  # fmt: skip


def run(**kwargs):
    return run_rule("supply_chain_network_connections", now=NOW, **kwargs)


def test_single_files(tmp_path):
    assert run(data=write_fleet(tmp_path, [device("srv")], [conn("srv")])) == ALERT


def test_folders_with_hive_partitions_and_differing_columns(tmp_path):
    write_table(tmp_path, "DeviceInfo", [device("srv")])
    events = tmp_path / "DeviceNetworkEvents"
    # Day one has an extra column and a different column order; day two lacks RemoteUrl (read as missing).
    day1 = table("DeviceNetworkEvents", [conn("srv", ago=timedelta(hours=3))]).append_column(
        "LocalIP", pa.array(["10.0.0.5"])
    )
    day1 = day1.select(list(reversed(day1.column_names)))
    (events / "date=2026-11-20").mkdir(parents=True)
    pq.write_table(day1, events / "date=2026-11-20" / "part-0.parquet")
    (events / "date=2026-11-19" / "deeper").mkdir(parents=True)
    day2 = table("DeviceNetworkEvents", [conn("srv", ago=timedelta(hours=2))]).drop_columns(["RemoteUrl"])
    pq.write_table(day2, events / "date=2026-11-19" / "deeper" / "part-0.parquet")
    [record] = run(data=tmp_path)
    assert record["set_Details"][0]["Count"] == 2
    assert record["set_Details"][0]["URLs"] == ["", "update.rare.example"]


def test_table_option_with_a_glob(tmp_path):
    write_table(tmp_path / "a", "DeviceInfo", [device("srv")])
    write_table(tmp_path / "b1", "DeviceNetworkEvents", [conn("srv")])
    write_table(tmp_path / "b2", "DeviceNetworkEvents", [conn("srv")])
    records = run(
        tables={
            "DeviceInfo": str(tmp_path / "a" / "DeviceInfo.parquet"),
            "DeviceNetworkEvents": str(tmp_path / "b*" / "*.parquet"),
        }
    )
    assert records[0]["set_Details"][0]["Count"] == 2


def test_table_option_overrides_one_table_of_data(tmp_path):
    write_fleet(tmp_path / "d", [device("srv")], [])
    write_table(tmp_path / "other", "DeviceNetworkEvents", [conn("srv")])
    other = str(tmp_path / "other" / "DeviceNetworkEvents.parquet")
    assert run(data=tmp_path / "d", tables={"DeviceNetworkEvents": other}) == ALERT


TIMESTAMP_FORMS = {
    "zoned-arrow": (pa.timestamp("us", tz="Europe/Berlin"), NOW - timedelta(hours=2)),
    "naive-is-utc": (pa.timestamp("us"), (NOW - timedelta(hours=2)).replace(tzinfo=None)),
    "nanoseconds": (pa.timestamp("ns", tz="UTC"), NOW - timedelta(hours=2)),
    "iso-z": (pa.string(), "2026-11-20T10:00:00Z"),
    "iso-offset": (pa.string(), "2026-11-20T12:00:00+02:00"),
    "iso-naive-space": (pa.string(), "2026-11-20 10:00:00"),
    "iso-7-digits": (pa.string(), "2026-11-20T10:00:00.1234567Z"),
    "iso-date-only": (pa.string(), "2026-11-20"),
}


@pytest.mark.parametrize("form", TIMESTAMP_FORMS)
def test_timestamp_forms(tmp_path, form):
    arrow_type, value = TIMESTAMP_FORMS[form]
    schema = SCHEMAS["DeviceNetworkEvents"].set(0, pa.field("Timestamp", arrow_type))
    write_table(tmp_path, "DeviceInfo", [device("srv")])
    write_table(tmp_path, "DeviceNetworkEvents", [conn("srv", Timestamp=value)], schema)
    [row] = run(data=tmp_path, flat=True)
    expected = {
        "iso-7-digits": NOW - timedelta(hours=2) + timedelta(microseconds=123456),
        "iso-date-only": NOW - timedelta(hours=12),
    }
    assert row["starttime"] == expected.get(form, NOW - timedelta(hours=2))


def test_port_as_numeric_text_is_read_as_a_number(tmp_path):
    schema = SCHEMAS["DeviceNetworkEvents"].set(5, pa.field("RemotePort", pa.string()))
    write_table(tmp_path, "DeviceInfo", [device("srv")])
    write_table(tmp_path, "DeviceNetworkEvents", [conn("srv", RemotePort="443")], schema)
    assert run(data=tmp_path) == ALERT


def test_port_as_other_text_names_file_column_and_row(tmp_path):
    schema = SCHEMAS["DeviceNetworkEvents"].set(5, pa.field("RemotePort", pa.string()))
    write_table(tmp_path, "DeviceInfo", [device("srv")])
    path = write_table(
        tmp_path, "DeviceNetworkEvents", [conn("srv", RemotePort="443"), conn("srv", RemotePort="abc")], schema
    )
    with pytest.raises(SourceError) as err:
        run(data=tmp_path)
    assert "RemotePort" in str(err.value) and str(path) in str(err.value) and "row 2" in str(err.value)
    assert "'abc'" in str(err.value)


def test_bad_timestamp_text_names_file_and_row(tmp_path):
    schema = SCHEMAS["DeviceNetworkEvents"].set(0, pa.field("Timestamp", pa.string()))
    write_table(tmp_path, "DeviceInfo", [device("srv")])
    path = write_table(tmp_path, "DeviceNetworkEvents", [conn("srv", Timestamp="yesterday")], schema)
    with pytest.raises(SourceError, match=r"Timestamp .* ISO-8601") as err:
        run(data=tmp_path)
    assert f"{path} row 1" in str(err.value)


def test_other_types_are_read_as_strings(tmp_path):
    schema = SCHEMAS["DeviceNetworkEvents"].set(1, pa.field("DeviceId", pa.int64()))
    write_table(tmp_path, "DeviceInfo", [device("srv")])
    write_table(tmp_path, "DeviceNetworkEvents", [conn("srv", DeviceId=7), conn("ws", DeviceId=8)], schema)
    assert run(data=tmp_path)[0]["set_Details"][0]["Prevalence"] == 2


def test_missing_table_names_what_was_looked_for(tmp_path):
    write_table(tmp_path, "DeviceInfo", [device("srv")])
    with pytest.raises(SourceError, match="table DeviceNetworkEvents: neither .*DeviceNetworkEvents.parquet"):
        run(data=tmp_path)


def test_missing_data_folder(tmp_path):
    with pytest.raises(SourceError, match="no such folder"):
        run(data=tmp_path / "nope")


def test_missing_column_names_file_and_column(tmp_path):
    write_table(tmp_path, "DeviceInfo", [device("srv")])
    bad = table("DeviceNetworkEvents", [conn("srv")]).drop_columns(["RemoteIPType"])
    pq.write_table(bad, tmp_path / "DeviceNetworkEvents.parquet")
    with pytest.raises(SourceError) as err:
        run(data=tmp_path)
    assert "column RemoteIPType is missing" in str(err.value)
    assert str(tmp_path / "DeviceNetworkEvents.parquet") in str(err.value)


def test_wrong_timestamp_type_is_an_error(tmp_path):
    schema = SCHEMAS["DeviceInfo"].set(0, pa.field("Timestamp", pa.int64()))
    write_table(tmp_path, "DeviceInfo", [device("srv", Timestamp=5)], schema)
    write_table(tmp_path, "DeviceNetworkEvents", [conn("srv")])
    with pytest.raises(SourceError, match="column Timestamp .* has type BIGINT"):
        run(data=tmp_path)


def test_corrupt_and_empty_files_are_named(tmp_path):
    write_table(tmp_path, "DeviceInfo", [device("srv")])
    (tmp_path / "DeviceNetworkEvents.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(SourceError, match="DeviceNetworkEvents.parquet"):
        run(data=tmp_path)
    (tmp_path / "DeviceNetworkEvents.parquet").write_bytes(b"")
    with pytest.raises(SourceError, match="DeviceNetworkEvents.parquet is an empty"):
        run(data=tmp_path)


def test_file_and_folder_for_one_table_is_ambiguous(tmp_path):
    write_fleet(tmp_path, [device("srv")], [conn("srv")])
    (tmp_path / "DeviceInfo").mkdir()
    with pytest.raises(SourceError, match="both"):
        run(data=tmp_path)


def test_empty_folder_is_an_error(tmp_path):
    write_table(tmp_path, "DeviceInfo", [device("srv")])
    (tmp_path / "DeviceNetworkEvents").mkdir()
    with pytest.raises(SourceError, match="no .parquet files"):
        run(data=tmp_path)


def test_symlink_loop_is_walked_once(tmp_path):
    write_table(tmp_path, "DeviceInfo", [device("srv")])
    write_table(tmp_path / "DeviceNetworkEvents" / "day", "part", [conn("srv")], SCHEMAS["DeviceNetworkEvents"])
    os.symlink(tmp_path / "DeviceNetworkEvents", tmp_path / "DeviceNetworkEvents" / "day" / "loop")
    assert run(data=tmp_path) == ALERT


def test_unknown_table_mapping(tmp_path):
    with pytest.raises(SourceError, match="--table DeviceEvents: the rule reads no such table"):
        run(data=tmp_path, tables={"DeviceEvents": "x.parquet"})


def test_glob_matching_nothing(tmp_path):
    write_table(tmp_path, "DeviceInfo", [device("srv")])
    with pytest.raises(SourceError, match="no files match"):
        run(data=tmp_path, tables={"DeviceNetworkEvents": str(tmp_path / "none*.parquet")})


def test_unicode_and_long_strings_pass_through(tmp_path):
    name = "сервер-日本-" + "x" * 5000
    assert run(data=write_fleet(tmp_path, [device(name)], [conn(name)]))[0]["DeviceName"] == name


def test_tables_already_in_a_duckdb_connection(tmp_path):
    import duckdb

    from detector.api import run_table

    folder = write_fleet(tmp_path, [device("srv")], [conn("srv")])
    con = duckdb.connect()
    con.execute("CREATE SCHEMA lake")
    con.execute(f"CREATE TABLE lake.net AS SELECT * FROM read_parquet('{folder}/DeviceNetworkEvents.parquet')")
    con.execute(f"CREATE TABLE DeviceInfo AS SELECT * FROM read_parquet('{folder}/DeviceInfo.parquet')")
    table = run_table(
        "supply_chain_network_connections", connection=con, tables={"DeviceNetworkEvents": "lake.net"}, now="latest"
    )
    assert table.to_pylist() == ALERT
    assert (
        run_table(
            "supply_chain_network_connections", connection=con, tables={"DeviceNetworkEvents": "lake.net"}, now=NOW
        ).to_pylist()
        == ALERT
    )
    with pytest.raises(SourceError, match="table DeviceNetworkEvents: cannot read 'lake.nope' in the connection"):
        run_table(
            "supply_chain_network_connections", connection=con, tables={"DeviceNetworkEvents": "lake.nope"}, now=NOW
        )
