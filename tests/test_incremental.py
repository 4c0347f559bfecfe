"""Stateful runs (`--state DIR`, detector/incremental.py): every stateful run prints what a stateless run prints.

The property test drives one state folder through a sequence of changes to a small fleet (files arriving, a late
file landing in an old day, a file rewritten in place, a file deleted, `now` advancing across the windows' edges,
a parameter changed) and after each compares the stateful run with a stateless one on the same files, byte for
byte. Rows are drawn from small pools so that windows, vendors and prevalence all decide alerts.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from helpers import SEED, invoke, table
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector import api, incremental
from detector.output import render_text
from detector.rule import load_rule

RULE = load_rule(SEED)
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EXAMPLES = int(os.environ.get("INCREMENTAL_EXAMPLES", "25"))

SERVERS = ["srv-1", "srv-2", "srv-3"]
DEVICES = [*SERVERS, "ws-1", "ws-2"]
INFO = [
    {"Timestamp": T0 - timedelta(days=d), "DeviceId": f"id-{n}", "DeviceName": n, "DeviceType": "Server",
     "OSPlatform": "Linux"}
    for n in SERVERS for d in (1, 6, 13)
] + [
    {"Timestamp": T0 - timedelta(days=2), "DeviceId": f"id-{n}", "DeviceName": n, "DeviceType": "Workstation",
     "OSPlatform": "Windows10"}
    for n in DEVICES[3:]
]  # fmt: skip

row = st.fixed_dictionaries(
    {
        "DeviceName": st.sampled_from(DEVICES),
        "RemoteIP": st.sampled_from(["203.0.113.1", "203.0.113.2", "198.51.100.7", "10.0.0.1", "::ffff:1.2.3.4"]),
        "RemotePort": st.sampled_from([443, 80, None]),
        "RemoteUrl": st.sampled_from(["", "a.example", "b.example", None]),
        "RemoteIPType": st.sampled_from(["Public", "Public", "Private", "FourToSixMapping"]),
        "ActionType": st.sampled_from(["ConnectionSuccess", "ConnectionSuccess", "ListeningConnectionCreated"]),
        "InitiatingProcessVersionInfoCompanyName": st.sampled_from(["Rare Co", "Common Inc", ""]),
        # hours back from the file's day: rows of a file span a few hours to two days
        "hours": st.integers(0, 47),
        "minutes": st.integers(0, 59),
    }
)

# Short windows, so that the few days of files cross their edges often, and prevalence thresholds that decide
# alerts among five devices; the rule's defaults last.
PARAMS = [
    {"lookback": "4d", "prevalence_window": "2d", "max_prevalence": "3"},
    {"lookback": "3d", "prevalence_window": "1d", "new_window": "12h", "max_prevalence": "2"},
    {"lookback": "4d", "prevalence_window": "2d", "excluded_ip_types": "Private", "max_prevalence": "3"},
    {},
]
# A step: (kind, a day offset from the first now / a file's index / hours / a parameter set, rows).
step = st.one_of(
    st.tuples(st.just("add"), st.integers(-7, 2), st.lists(row, min_size=1, max_size=10)),
    st.tuples(st.just("rewrite"), st.integers(0, 20), st.lists(row, min_size=1, max_size=10)),
    st.tuples(st.just("delete"), st.integers(0, 20), st.none()),
    st.tuples(st.just("advance"), st.integers(1, 30), st.none()),
    st.tuples(st.just("param"), st.integers(0, len(PARAMS) - 1), st.none()),
)


def network_rows(day: datetime, drawn: list[dict]) -> list[dict]:
    rows = []
    for r in drawn:
        stamp = day - timedelta(hours=r["hours"], minutes=r["minutes"])
        device = r["DeviceName"]
        rows.append({**{k: v for k, v in r.items() if k not in ("hours", "minutes")}, "Timestamp": stamp,
                     "DeviceId": f"id-{device}"})  # fmt: skip
    return rows


class Fleet:
    """The lake: DeviceInfo once, DeviceNetworkEvents as files that come and go."""

    def __init__(self, root: Path):
        self.root = root
        self.events = root / "DeviceNetworkEvents"
        self.events.mkdir(parents=True)
        (root / "DeviceInfo").mkdir()
        pq.write_table(table("DeviceInfo", INFO), root / "DeviceInfo" / "part-0.parquet")
        self.files: list[Path] = []
        self.serial = 0

    def write(self, path: Path, rows: list[dict]) -> None:
        tmp = path.with_suffix(".tmp")
        pq.write_table(table("DeviceNetworkEvents", rows), tmp)
        os.replace(tmp, path)
        self.serial += 1  # a rewrite in place gets a new modification time even within the clock's resolution
        os.utime(path, ns=(1_800_000_000_000_000_000 + self.serial, 1_800_000_000_000_000_000 + self.serial))

    def add(self, day: datetime, rows: list[dict]) -> None:
        folder = self.events / f"date={day:%Y-%m-%d}"
        folder.mkdir(exist_ok=True)
        path = folder / f"part-{len(list(folder.iterdir()))}.parquet"
        self.write(path, rows)
        self.files.append(path)


def stateless(fleet: Fleet, now: datetime, params: dict, flat: bool = False) -> str:
    result = api.run_table(RULE, data=fleet.root, now=now, params=params, flat=flat)
    return render_text(result, "jsonl")


def stateful(
    fleet: Fleet, state: Path, now: datetime, params: dict, flat: bool = False
) -> tuple[str, incremental.Report]:
    report = incremental.Report()
    with incremental.run(RULE, state_dir=state, data=fleet.root, now=now, params=params, flat=flat,
                         report=report) as result:  # fmt: skip
        text = render_text(result.table, "jsonl")
    return text, report


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.lists(row, min_size=1, max_size=10), steps=st.lists(step, min_size=1, max_size=7))
def test_every_stateful_run_prints_what_a_stateless_run_prints(tmp_path_factory, first, steps):
    root = tmp_path_factory.mktemp("fleet")
    fleet, state = Fleet(root / "lake"), root / "state"
    now, params = T0, PARAMS[0]
    fleet.add(T0, network_rows(T0, first))
    for kind, arg, payload in [("start", 0, None), *steps]:
        if kind == "add":
            day = T0 + timedelta(days=arg)
            fleet.add(day, network_rows(day, payload))
        elif kind == "rewrite" and fleet.files:
            path = fleet.files[arg % len(fleet.files)]
            day = datetime.strptime(path.parent.name, "date=%Y-%m-%d").replace(tzinfo=UTC, hour=12)
            fleet.write(path, network_rows(day, payload))
        elif kind == "delete" and fleet.files:
            fleet.files.pop(arg % len(fleet.files)).unlink()
        elif kind == "advance":
            now += timedelta(hours=arg)
        elif kind == "param":
            params = PARAMS[arg]
        if not fleet.files:
            continue
        for flat in (False, True):
            got, report = stateful(fleet, state, now, params, flat)
            assert got == stateless(fleet, now, params, flat), (kind, arg, now, params, flat)
            assert not report.notes, report.notes


# ---- the state is reused, and kept safe ---------------------------------------------------------------------------


@pytest.fixture()
def sample(tmp_path) -> Path:
    lake = tmp_path / "lake"
    shutil.copytree(Path(__file__).resolve().parents[1] / "data" / "sample", lake)
    return lake


NOW = "2026-11-20T12:00:00Z"


def run_once(lake: Path, state: Path, **kwargs) -> tuple[str, incremental.Report]:
    report = incremental.Report()
    with incremental.run(RULE, state_dir=state, data=lake, now=kwargs.pop("now", NOW), report=report,
                         **kwargs) as result:  # fmt: skip
        text = render_text(result.table, "jsonl")
    return text, report


def test_a_second_run_reuses_every_summary(sample, tmp_path):
    first, report = run_once(sample, tmp_path / "state")
    assert sum(c.computed for c in report.partials.values()) > 0
    second, again = run_once(sample, tmp_path / "state")
    assert second == first == render_text(api.run_table(RULE, data=sample, now=NOW), "jsonl")
    assert sum(c.computed for c in again.partials.values()) == 0
    assert all(c.reused == report.partials[n].computed for n, c in again.partials.items())


def test_files_outside_every_window_are_not_read(sample, tmp_path):
    """A file whose statistics put every row before the windows is never scanned: its rows do not matter."""
    base, report = run_once(sample, tmp_path / "state")
    assert report.partials["prevalence"].outside > 0
    old = sorted((sample / "DeviceNetworkEvents").glob("date=*/*.parquet"))[0]
    rows = pq.read_table(old)
    garbage = rows.set_column(rows.schema.get_field_index("RemoteIP"), "RemoteIP", pq.read_table(old)["DeviceName"])
    pq.write_table(garbage, old)  # same Timestamps, other addresses: only a raw read would see them
    again, _ = run_once(sample, tmp_path / "state", params={"lookback": "3d"})
    assert again == render_text(api.run_table(RULE, data=sample, now=NOW, params={"lookback": "3d"}), "jsonl")


def manifest(state: Path) -> Path:
    return state / SEED / "state.json"


def test_a_corrupt_summary_is_named_and_rebuilt(sample, tmp_path):
    state = tmp_path / "state"
    base, _ = run_once(sample, state)
    victim = sorted((state / SEED / "partials" / "outbound").rglob("*.parquet"))[0]
    victim.write_bytes(victim.read_bytes()[:-20] + b"0" * 20)
    again, report = run_once(sample, state)
    assert again == base
    assert report.notes == [f"state {victim}: corrupt (size or content differs): rebuilt"]
    assert run_once(sample, state)[1].notes == []  # rebuilt and trusted again


@pytest.mark.parametrize(
    ("change", "note"),
    [
        (lambda m: m.write_text("{not json"), "unreadable (JSONDecodeError): rebuilt"),
        (lambda m: m.write_text(m.read_text().replace('"format": 1', '"format": 99')), "written by a newer detector"),
        (lambda m: m.write_text(m.read_text().replace('"rule_hash": "', '"rule_hash": "0')), "another version"),
    ],
)
def test_a_state_not_to_be_trusted_is_named_and_rebuilt(sample, tmp_path, change, note):
    state = tmp_path / "state"
    base, _ = run_once(sample, state)
    change(manifest(state))
    again, report = run_once(sample, state)
    assert again == base
    assert (
        len(report.notes) == 1 and report.notes[0].startswith(f"state {manifest(state)}: ") and note in report.notes[0]
    )
    assert sum(c.reused for c in report.partials.values()) == 0


def test_a_failed_run_commits_nothing(sample, tmp_path):
    """The output is written inside the block: an error there (or a kill) leaves the state as it was."""
    state = tmp_path / "state"
    run_once(sample, state)
    before = manifest(state).read_bytes()
    extra = sample / "DeviceNetworkEvents" / "date=2026-11-20" / "part-9.parquet"
    shutil.copy(next((sample / "DeviceNetworkEvents" / "date=2026-11-20").glob("*.parquet")), extra)
    with pytest.raises(RuntimeError), incremental.run(RULE, state_dir=state, data=sample, now=NOW, new_only=True):
        raise RuntimeError("the output could not be written")
    assert manifest(state).read_bytes() == before
    assert not list((state / SEED / "partials").rglob("*.tmp*"))


def test_new_only_prints_each_alert_once(sample, tmp_path):
    state = tmp_path / "state"
    first, _ = run_once(sample, state, new_only=True, flat=True)
    assert first == render_text(api.run_table(RULE, data=sample, now=NOW, flat=True), "jsonl")
    assert run_once(sample, state, new_only=True, flat=True)[0] == ""
    assert run_once(sample, state, new_only=True)[0] == ""
    # a new connection of a planted server: only it is printed, in the rule's own record shape
    day = sample / "DeviceNetworkEvents" / "date=2026-11-20"
    rows = pq.read_table(next(day.glob("*.parquet"))).to_pylist()
    planted = next(r for r in rows if r["DeviceName"] == "srv-planted-01" and r["RemoteIP"] == "203.0.113.10")
    new = {**planted, "RemoteIP": "203.0.113.99", "RemoteUrl": "", "Timestamp": planted["Timestamp"]}
    pq.write_table(table("DeviceNetworkEvents", [new]), day / "part-new.parquet")
    text, _ = run_once(sample, state, new_only=True)
    assert text.count("\n") == 1 and '"DeviceName":"srv-planted-01"' in text and "203.0.113.99" in text
    assert "203.0.113.10" not in text
    assert run_once(sample, state, new_only=True)[0] == ""


def test_the_lock_serializes_runs(sample, tmp_path):
    import fcntl

    state = tmp_path / "state"
    run_once(sample, state)
    with open(state / SEED / "lock", "r+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        held.truncate(0)
        held.write('{"pid": 4242, "host": "elsewhere", "since": "2026-11-30T00:00:00+00:00"}')
        held.flush()
        result = invoke("run", "--data", sample, "--now", NOW, "--state", state, "--lock-timeout", "0.5")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --state {state / SEED}: in use by another run (process 4242 on elsewhere since "
        "2026-11-30T00:00:00+00:00); waited 0.5 s (--lock-timeout)"
    ]


# ---- the command line ---------------------------------------------------------------------------------------------


def test_cli_state_run_info_and_clear(sample, tmp_path):
    state = tmp_path / "state"
    plain = invoke("run", "--data", sample, "--now", NOW, "--format", "jsonl")
    first = invoke("run", "--data", sample, "--now", NOW, "--format", "jsonl", "--state", state)
    assert first.exit_code == 0 and first.stdout == plain.stdout and first.stderr == ""
    info = invoke("state", "info", "--state", state, SEED)
    assert info.exit_code == 0
    assert info.stdout.startswith(f"{SEED}: ok ({state / SEED})\n  written by detector ")
    assert "partial outbound: 14 file(s) summarized" in info.stdout
    assert "no [state] declared" in invoke("state", "info", "--state", state, "rogue_rdp_file_creation").stdout
    assert invoke("state", "clear", "--state", state, SEED).stdout == f"{SEED}: cleared\n"
    assert not (state / SEED / "state.json").exists()
    assert invoke("state", "clear", "--state", state, SEED).stdout == f"{SEED}: no state\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--new-only"], "error: parameter --new-only: needs --state DIR"),
        (["--state", "/proc/detector-state"], "error: --state /proc/detector-state/" + SEED + ": cannot write there"),
        (["--state", "S", "--engine", "spark"], "error: parameter --state: stateful runs read Parquet files with "),
        (["--state", "S", "--plan", "fast"], "error: parameter --plan: a stateful run executes the plan"),
        (["--state", "S", "--lock-timeout", "-1"], "error: parameter --lock-timeout: -1 is negative"),
    ],
)
def test_cli_bad_state_options(sample, tmp_path, args, message):
    args = [str(tmp_path / "S") if a == "S" else a for a in args]
    result = invoke("run", "--data", sample, "--now", NOW, *args)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith(message), result.stderr


def test_cli_all_rules_keep_their_own_state(sample, tmp_path):
    state = tmp_path / "state"
    args = [
        "run",
        "--all",
        "--data",
        sample,
        "--now",
        NOW,
        "--format",
        "jsonl",
        "--param",
        "server_network_connection_anomalies.servers=srv-0001",
    ]
    plain = invoke(*args)
    stateful_run = invoke(*args, "--state", state)
    assert stateful_run.exit_code == 0 and stateful_run.stdout == plain.stdout
    assert (state / SEED / "state.json").exists()
    assert "declares no [state]" in stateful_run.stderr
