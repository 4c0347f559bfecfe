"""The tuning the rule's author suggests, off by default: --privileged-servers and --trusted-urls."""

from __future__ import annotations

import pytest
from conftest import SEED, conn, device
from typer.testing import CliRunner

from detector.cli import app
from detector.errors import ParamError

IP = "203.0.113.10"


def test_default_output_is_the_rules(fleet):
    assert fleet.alerts([device("a"), device("b")], [conn("a"), conn("b", "198.51.100.1")]) == {
        "a": [(IP, 443)],
        "b": [("198.51.100.1", 443)],
    }


def test_privileged_servers_restrict_the_server_list(fleet):
    devices, events = [device("a"), device("b"), device("ws", DeviceType="Workstation")], [conn("a"), conn("b")]
    assert fleet.alerts(devices, events, privileged_servers=["b", "ws", "A"]) == {"b": [(IP, 443)]}
    assert fleet.alerts(devices, events, privileged_servers=[]) == {}


def test_trusted_urls_drop_details_whose_urls_are_all_trusted(fleet):
    events = [
        conn("a", "198.51.100.1", RemoteUrl="Update.Vendor.example"),  # subdomain, any case: trusted
        conn("a", "198.51.100.2", RemoteUrl="vendor.example"),  # the domain itself: trusted
        conn("a", "198.51.100.3", RemoteUrl="evilvendor.example"),  # not a subdomain
        conn("a", "198.51.100.4", RemoteUrl="cdn.vendor.example"),
        conn("ws", "198.51.100.4", RemoteUrl="other.example"),  # one URL of the address is not trusted
        conn("a", "198.51.100.5", RemoteUrl=None),  # no URL: never trusted
    ]
    kept = fleet.alerts([device("a")], events, trusted_urls=["*.vendor.example"])
    assert kept == {"a": [("198.51.100.3", 443), ("198.51.100.4", 443), ("198.51.100.5", 443)]}
    assert len(fleet.alerts([device("a")], events, trusted_urls=[])["a"]) == 5


@pytest.mark.parametrize("bad", ["exa mple.com", "%.example.com", "example.com'--", "a_b.example"])
def test_trusted_urls_must_be_domains(fleet, bad):
    with pytest.raises(ParamError, match="trusted_urls: .* is not a domain name"):
        fleet.run([device("a")], [conn("a")], trusted_urls=[bad])


def test_cli_reads_the_lists_from_files(tmp_path):
    from helpers import write_fleet

    folder = write_fleet(
        tmp_path / "d",
        [device("a"), device("b")],
        [conn("a"), conn("b", "198.51.100.7", RemoteUrl="x.trusted.example")],
    )
    servers = tmp_path / "servers.txt"
    servers.write_text("# servers with domain-wide privileges\na\n\nb\n")
    urls = tmp_path / "urls.txt"
    urls.write_text("trusted.example\n")
    args = ["run", SEED, "--data", str(folder), "--now", "2026-11-20T12:00:00Z", "--format", "jsonl"]
    result = CliRunner().invoke(app, [*args, "--privileged-servers", f"@{servers}", "--trusted-urls", f"@{urls}"])
    assert result.exit_code == 0, result.output
    assert [line.split('"')[3] for line in result.stdout.splitlines()] == ["a"]  # b's only URL is trusted
    # The generic --param takes @FILE too.
    same = CliRunner().invoke(app, [*args, "--param", f"privileged_servers=@{servers}", "--trusted-urls", f"@{urls}"])
    assert same.stdout == result.stdout
    # A bare path is not silently taken as one value.
    bare = CliRunner().invoke(app, [*args, "--privileged-servers", str(servers)])
    assert bare.exit_code == 2 and f"is a file: write @{servers}" in bare.stderr
    missing = CliRunner().invoke(app, [*args, "--trusted-urls", f"@{tmp_path / 'none.txt'}"])
    assert missing.exit_code == 2 and "parameter trusted_urls: cannot read" in missing.stderr
